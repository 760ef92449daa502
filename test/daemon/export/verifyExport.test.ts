import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { cp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ExportManifest } from '../../../daemon/protocol/exports.ts';
import { listSegments } from '../../../daemon/store/segmentPaths.ts';
import { CHECKPOINTS_FILE } from '../../../daemon/store/checkpoints.ts';
import { runCliProcess, type DaemonProcess } from '../../support/daemonProcess.ts';
import { scheduledExport, type ScheduledExport } from '../../support/scheduledExport.ts';

const event = (n: number): string =>
  JSON.stringify({ kind: 'chat.input', ts: new Date(Date.parse('2026-11-25T08:00:00Z') + n * 3_600_000).toISOString(), input: `p${n}`, model: 'm' });
const batch = (from: number, count: number): string => Array.from({ length: count }, (_, i) => event(from + i)).join('\n') + '\n';

/**
 * Attacks on an export as its documentation invites them: delete an object, edit a row, delete a manifest,
 * delete a whole run; and a local store whose newest entries are cut off, caught by the export as witness.
 */
describe('verify-export and verify --against', () => {
  let exported: ScheduledExport;
  let home: string;
  let out: string;
  let daemon: DaemonProcess;
  const env = { AI_AUDIT_MASTER_KEY: randomBytes(32).toString('base64'), AI_AUDIT_HOME: '' };
  const cli = (args: string[], input?: string) => runCliProcess(args, input === undefined ? { env } : { env, input });
  let intact: string;
  const manifests: ExportManifest[] = [];
  let manifestKeys: string[];

  before(async () => {
    exported = await scheduledExport('vexp', env, [0, 1, 2].map((run) => batch(run * 40, 40)));
    ({ home, out, intact, daemon, manifestKeys } = exported);
    for (const key of manifestKeys) manifests.push(JSON.parse(await readFile(join(intact, key), 'utf8')) as ExportManifest);
  });
  after(() => exported?.dispose());

  async function copy(name: string): Promise<string> {
    const target = join(out, name);
    await cp(intact, target, { recursive: true });
    return target;
  }

  test('an intact export verifies: three runs, one chain, signed to its end', async () => {
    assert.equal(manifests.length, 3);
    assert.equal(manifests[1]?.seq_from, (manifests[0]?.seq_to ?? 0) + 1);
    const result = await cli(['verify-export', intact, '--json']);
    assert.equal(result.code, 0, result.stdout);
    const report = JSON.parse(result.stdout) as { ok: boolean; chains: Array<{ chain: string; manifests: number; seq_from: number }>; unsigned_manifests: string[] };
    assert.deepEqual(report.unsigned_manifests, []);
    assert.ok(manifests.every((m) => m.signature !== undefined && m.public_keys[m.signature.key_id] !== undefined));
    assert.deepEqual(report.chains.map((c) => [c.chain, c.manifests, c.seq_from]), [['nightly', 3, 1]]);
    // With the key pinned from `keys status`.
    const keys = JSON.parse((await cli(['keys', 'status', '--json', '--home', home])).stdout) as { signing_public_key: string };
    const pem = join(out, 'signing.pem');
    await writeFile(pem, keys.signing_public_key);
    assert.equal((await cli(['verify-export', intact, '--public-key', pem])).code, 0);
    // Another key does not verify these signatures.
    const other = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();
    await writeFile(pem, other);
    const wrong = await cli(['verify-export', intact, '--public-key', pem]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stdout, /CHECKPOINT_SIGNATURE/);
    assert.match(wrong.stdout, /MANIFEST_SIGNATURE/);
  });

  test('a deleted object is named as missing', async () => {
    const target = await copy('deleted-object');
    const victim = manifests[1]?.objects[0]?.key ?? '';
    await rm(join(target, victim));
    const result = await cli(['verify-export', target]);
    assert.equal(result.code, 1);
    assert.match(result.stdout, new RegExp(`MISSING_OBJECT: ${victim.replaceAll('.', '\\.')}`));
  });

  test('an edited row is named, with its object', async () => {
    const target = await copy('edited-row');
    const victim = manifests[0]?.objects[0]?.key ?? '';
    const text = await readFile(join(target, victim), 'utf8');
    await writeFile(join(target, victim), text.replace('"model":"m"', '"model":"n"'));
    const result = await cli(['verify-export', target]);
    assert.equal(result.code, 1);
    assert.match(result.stdout, /ALTERED_ROW: .*does not match its hash/);
    assert.match(result.stdout, /ALTERED_OBJECT/);
  });

  test('a missing manifest leaves its objects listed in no manifest', async () => {
    const target = await copy('missing-manifest');
    await rm(join(target, manifestKeys[2] ?? ''));
    const result = await cli(['verify-export', target]);
    assert.equal(result.code, 1);
    assert.match(result.stdout, /EXTRA_OBJECT: .*listed in no manifest/);
  });

  test('a whole run deleted (objects and manifest) is a gap in the manifest chain', async () => {
    const target = await copy('deleted-run');
    const middle = manifests[1];
    assert.ok(middle !== undefined);
    for (const object of middle.objects) await rm(join(target, object.key));
    await rm(join(target, manifestKeys[1] ?? ''));
    const result = await cli(['verify-export', target]);
    assert.equal(result.code, 1);
    assert.match(result.stdout, /MANIFEST_GAP/);
    assert.match(result.stdout, new RegExp(`SEQ_GAP: nightly: seq ${middle.seq_from}–${middle.seq_to}`));
  });

  test('usage errors exit 2; a folder without an export exits 1', async () => {
    assert.equal((await cli(['verify-export'])).code, 2);
    const none = await cli(['verify-export', join(out, 'nothing-here')]);
    assert.equal(none.code, 1);
    assert.match(none.stdout, /NO_MANIFEST/);
  });

  test('verify --against: a local store whose newest exported entries were cut off fails; the intact one passes', async () => {
    const ok = await cli(['verify', '--home', home, '--against', intact]);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    await daemon.stop();
    // The attacker cuts off the newest entries and the checkpoints that cover them: local verify cannot tell.
    const last = manifests[2];
    assert.ok(last !== undefined);
    const cut = last.seq_to - 3;
    const segments = await listSegments(home);
    const newest = segments.at(-1);
    assert.ok(newest !== undefined);
    const lines = (await readFile(join(home, newest.file), 'utf8')).split('\n').filter((l) => l !== '');
    await writeFile(join(home, newest.file), lines.filter((l) => (JSON.parse(l) as { seq: number }).seq <= cut).map((l) => l + '\n').join(''));
    const checkpoints = (await readFile(join(home, CHECKPOINTS_FILE), 'utf8')).split('\n').filter((l) => l !== '');
    await writeFile(join(home, CHECKPOINTS_FILE), checkpoints.filter((l) => (JSON.parse(l) as { seq: number }).seq <= cut).map((l) => l + '\n').join(''));
    const local = await cli(['verify', '--home', home]);
    assert.equal(local.code, 0, `the cut is invisible locally: ${local.stdout}`);
    const witnessed = await cli(['verify', '--home', home, '--against', intact]);
    assert.equal(witnessed.code, 1);
    assert.match(witnessed.stdout, new RegExp(`FAILED: the export holds a signed checkpoint of seq ${last.seq_to} .* that the local store lacks`));
  });
});
