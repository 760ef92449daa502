import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { cp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ExportManifest } from '../../daemon/protocol/exports.ts';
import { runCliProcess, startDaemonProcess } from '../support/daemonProcess.ts';
import { scheduledExport, type ScheduledExport } from '../support/scheduledExport.ts';
import { tempDir } from '../support/tempDir.ts';

/*
 * Someone with write access to the export (not to the machine) edits a manifest so that rows can go:
 * marks it filtered (`complete: false`) and removes a row from its object, with the object's size, digest
 * and row count updated in the manifest. docs/exports.md: an earlier manifest edited breaks the next one's
 * link; the newest one is signed (MANIFEST_SIGNATURE), and a signature cannot be stripped from a chain
 * that has signed manifests.
 */

const sha256 = (bytes: Buffer | string): string => createHash('sha256').update(bytes).digest('hex');

describe('edited export manifests (docs/exports.md, Limits and notes)', () => {
  let exported: ScheduledExport;
  let home: string;
  let out: string;
  const env = { AI_AUDIT_MASTER_KEY: randomBytes(32).toString('base64'), AI_AUDIT_HOME: '' };
  const cli = (args: string[], input?: string) => runCliProcess(args, input === undefined ? { env } : { env, input });
  let intact: string;
  let manifestKeys: string[];

  before(async () => {
    const batches = Array.from({ length: 3 }, (_, run) =>
      Array.from({ length: 10 }, (_, i) => JSON.stringify({ kind: 'chat.input', ts: '2026-11-25T08:00:00Z', input: `p${run}-${i}` })).join('\n') + '\n');
    exported = await scheduledExport('manifest-attack', env, batches);
    ({ home, out, intact, manifestKeys } = exported);
    assert.equal(manifestKeys.length, 3);
  });
  after(() => exported?.dispose());

  /** Copies the export and edits manifest `index`: filtered, one middle row of its first object removed. */
  async function dropRowVia(index: number, name: string): Promise<string> {
    const target = join(out, name);
    await cp(intact, target, { recursive: true });
    const manifestPath = join(target, manifestKeys[index] ?? '');
    const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as ExportManifest;
    const object = manifest.objects[0];
    assert.ok(object !== undefined && object.rows >= 3);
    const lines = (await readFile(join(target, object.key), 'utf8')).split('\n').filter((l) => l !== '');
    lines.splice(1, 1);
    const body = lines.map((l) => `${l}\n`).join('');
    await writeFile(join(target, object.key), body);
    object.rows -= 1;
    object.bytes = Buffer.byteLength(body);
    object.sha256 = sha256(body);
    manifest.rows -= 1;
    manifest.complete = false;
    await writeFile(manifestPath, JSON.stringify(manifest, null, 2) + '\n');
    return target;
  }

  test('an earlier manifest edited to hide a removed row: verify-export names the broken link', async () => {
    const target = await dropRowVia(0, 'first-edited');
    const result = await cli(['verify-export', target]);
    assert.equal(result.code, 1, result.stdout);
    assert.match(result.stdout, /MANIFEST_GAP/);
  });

  test('verify --against after retention dropped exported segments: the anchor vouches for them (online and offline)', async () => {
    const store = await tempDir('against-retention');
    const target = join(out, 'against-retention');
    const small = { ...env, AI_AUDIT_SEGMENT_MAX_BYTES: '2048' };
    const own = await startDaemonProcess(store.path, small);
    const h = ['--home', store.path];
    try {
      assert.equal((await runCliProcess(['schedules', 'add', 'hourly', '--to', target, '--every', 'hour', ...h], { env: small })).code, 0);
      for (let run = 0; run < 2; run++) {
        const events = Array.from({ length: 30 }, (_, i) => JSON.stringify({ kind: 'chat.input', input: `r${run}-${i}` })).join('\n') + '\n';
        assert.equal((await runCliProcess(['ingest', '-', ...h], { env: small, input: events })).code, 0);
        assert.equal((await runCliProcess(['schedules', 'run', 'hourly', ...h], { env: small })).code, 0);
      }
      const client = await own.connect();
      try {
        const dropped = await client.request('retention.run', { older_than_days: 0 });
        assert.ok(dropped.dropped_entries > 0, 'retention dropped nothing');
      } finally {
        await client.dispose();
      }
      const online = await runCliProcess(['verify', ...h, '--against', target], { env: small });
      assert.equal(online.code, 0, online.stdout + online.stderr);
    } finally {
      assert.equal(await own.stop(), 0);
    }
    const offline = await runCliProcess(['verify', ...h, '--against', target], { env: small });
    assert.equal(offline.code, 0, offline.stdout + offline.stderr);
    await store.dispose();
  });

  test('the newest manifest edited the same way: verify-export names the broken signature', async () => {
    const target = await dropRowVia(2, 'newest-edited');
    const result = await cli(['verify-export', target]);
    assert.equal(result.code, 1, result.stdout);
    assert.match(result.stdout, /MANIFEST_SIGNATURE: /);
    assert.ok(result.stdout.includes(manifestKeys[2] ?? '?'), result.stdout);
  });

  test('the newest manifest edited and its signature removed: a chain does not go back to unsigned', async () => {
    const target = await dropRowVia(2, 'newest-stripped');
    const manifestPath = join(target, manifestKeys[2] ?? '');
    const { signature: _signature, ...stripped } = JSON.parse(await readFile(manifestPath, 'utf8')) as ExportManifest;
    await writeFile(manifestPath, JSON.stringify(stripped, null, 2) + '\n');
    const result = await cli(['verify-export', target]);
    assert.equal(result.code, 1, result.stdout);
    assert.match(result.stdout, /MANIFEST_SIGNATURE: .*removed/);
  });

  test('the newest manifest deleted with its objects: verify-export cannot tell, verify --against can', async () => {
    const target = join(out, 'newest-deleted');
    await cp(intact, target, { recursive: true });
    const newest = JSON.parse(await readFile(join(target, manifestKeys[2] ?? ''), 'utf8')) as ExportManifest;
    for (const key of [manifestKeys[2] ?? '', ...newest.objects.map((o) => o.key)]) await rm(join(target, key));
    assert.equal((await cli(['verify-export', target])).code, 0, 'a shorter intact export');
    const h = ['--home', home];
    const whole = await cli(['verify', ...h, '--against', intact]);
    assert.equal(whole.code, 0, whole.stdout + whole.stderr);
    const result = await cli(['verify', ...h, '--against', target]);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.match(result.stdout, /schedule nightly exported up to seq \d+ .*the newest were deleted/);
  });

  test('an export written before manifests were signed: accepted with a warning', async () => {
    const target = join(out, 'unsigned');
    await cp(intact, target, { recursive: true });
    let prev: string | null = null;
    for (const key of manifestKeys) {
      const { signature: _signature, ...old } = JSON.parse(await readFile(join(target, key), 'utf8')) as ExportManifest;
      const bytes = JSON.stringify({ ...old, prev_manifest_sha256: prev }, null, 2) + '\n';
      await writeFile(join(target, key), bytes);
      prev = sha256(bytes);
    }
    const result = await cli(['verify-export', target]);
    assert.equal(result.code, 0, result.stdout);
    assert.match(result.stdout, /warning: 3 manifests are not signed/);
  });
});
