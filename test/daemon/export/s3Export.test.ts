import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import type { DaemonClient } from '../../../daemon/client/daemonClient.ts';
import type { Entry } from '../../../daemon/protocol/entry.ts';
import type { ExportRun } from '../../../daemon/protocol/exports.ts';
import { runCliProcess, startDaemonProcess, type DaemonProcess } from '../../support/daemonProcess.ts';
import { localEntries } from '../../support/exportFiles.ts';
import { FAULTS, startFaultProxy } from '../../support/faultProxy.ts';
import { filesUnder } from '../../support/filesUnder.ts';
import { NO_AWS_DEFAULT_CREDENTIALS } from '../../support/noAwsDefaultCredentials.ts';
import { S3RVER_KEYS, startS3rver, type S3rverServer } from '../../support/s3rverServer.ts';
import { tempDir } from '../../support/tempDir.ts';

const BUCKET = 'audit';

function events(count: number): string {
  const base = Date.parse('2026-11-20T00:00:00Z');
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    lines.push(JSON.stringify({ kind: 'chat.input', ts: new Date(base + i * 1_800_000).toISOString(), input: `prompt ${i}`, model: `model-${i % 3}` }));
  }
  return lines.join('\n') + '\n';
}

/** The seqs of every data row under `prefix/` in the bucket, read from s3rver's disk, in object order. */
async function exportedSeqs(s3: S3rverServer, prefix: string): Promise<number[]> {
  const seqs: number[] = [];
  for (const [key, bytes] of await s3.storedObjects(BUCKET)) {
    if (!key.startsWith(`${prefix}/`) || !/\.jsonl(\.gz)?$/.test(key)) continue;
    const text = (key.endsWith('.gz') ? gunzipSync(bytes) : bytes).toString('utf8');
    for (const line of text.split('\n')) if (line !== '') seqs.push((JSON.parse(line) as Entry).seq);
  }
  return seqs;
}

describe('exports to S3 (s3rver) through a real daemon, with keys stored by `ai-audit credentials`', () => {
  let s3: S3rverServer;
  let home: { path: string; dispose(): Promise<void> };
  let daemon: DaemonProcess;
  let client: DaemonClient;
  const ref = `s3export-${randomBytes(4).toString('hex')}`;
  // s3rver checks the key id only, so the secret can be unique to this run and searched for everywhere.
  const secret = `secret-${randomBytes(16).toString('hex')}`;
  // No default chain: without the keychain ref there are no credentials at all.
  const env = {
    AI_AUDIT_MASTER_KEY: randomBytes(32).toString('base64'),
    AI_AUDIT_HOME: '',
    ...NO_AWS_DEFAULT_CREDENTIALS,
  };
  const outputs: string[] = [];
  const cli = async (args: string[], input?: string) => {
    const result = await runCliProcess([...args, '--home', home.path], { env, ...(input === undefined ? {} : { input }) });
    outputs.push(result.stdout, result.stderr);
    return result;
  };
  const s3Flags = (endpoint: string) => ['--endpoint', endpoint, '--path-style', '--credentials-ref', ref];

  before(async () => {
    s3 = await startS3rver({ buckets: [BUCKET] });
    home = await tempDir('s3export');
    daemon = await startDaemonProcess(home.path, env);
    const ingest = await cli(['ingest', '-'], events(150));
    assert.equal(ingest.code, 0, ingest.stderr);
    client = await daemon.connect();
    const stored = await cli(['credentials', 'set', ref, '--kind', 's3'], `${S3RVER_KEYS.accessKeyId}\n${secret}\n`);
    assert.equal(stored.code, 0, stored.stderr);
  });
  after(async () => {
    await cli(['credentials', 'remove', ref]);
    await client?.dispose();
    await daemon?.stop();
    await home?.dispose();
    await s3?.dispose();
  });

  test('export (hive + gzip) and verify-export with the stored keys; a deleted object fails verification by name', async () => {
    const exported = await cli(['export', '--to', `s3://${BUCKET}/e2e`, ...s3Flags(s3.endpoint), '--layout', 'hive', '--gzip', '--json']);
    assert.equal(exported.code, 0, exported.stderr);
    const run = JSON.parse(exported.stdout) as ExportRun;
    assert.equal(run.status, 'succeeded');

    // The daemon records runs in the store too: the export holds what was there when it started.
    const local = (await localEntries(client)).map((e) => e.seq).filter((seq) => seq <= run.seq_to);
    assert.ok(local.length >= 150);
    assert.deepEqual([...(await exportedSeqs(s3, 'e2e'))].sort((a, b) => a - b), local);
    const keys = [...(await s3.storedObjects(BUCKET)).keys()].filter((k) => k.startsWith('e2e/'));
    const data = keys.filter((k) => /\.jsonl(\.gz)?$/.test(k));
    assert.ok(data.length > 1 && data.every((k) => /^e2e\/year=\d{4}\/month=\d{2}\/day=\d{2}\/\d{12}-\d{12}\.jsonl\.gz$/.test(k)), keys.join('\n'));

    const verified = await cli(['verify-export', `s3://${BUCKET}/e2e`, ...s3Flags(s3.endpoint)]);
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
    assert.match(verified.stdout, /^ok: /m);

    const victim = data[1];
    assert.ok(victim !== undefined);
    await s3.client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: victim }));
    const broken = await cli(['verify-export', `s3://${BUCKET}/e2e`, ...s3Flags(s3.endpoint)]);
    assert.equal(broken.code, 1, broken.stdout + broken.stderr);
    assert.match(broken.stdout, /^MISSING_OBJECT: /m);
    assert.ok(broken.stdout.includes(victim.slice('e2e/'.length)) || broken.stdout.includes(victim), broken.stdout);
  });

  test('without the ref the daemon has no credentials, and the message names a command that exists', async () => {
    const failed = await cli(['export', '--to', `s3://${BUCKET}/nokeys`, '--endpoint', s3.endpoint, '--path-style']);
    assert.equal(failed.code, 1, failed.stdout + failed.stderr);
    assert.match(failed.stderr, /ai-audit credentials set/);
    assert.doesNotMatch(failed.stderr, /--access-key-id/);
    const help = await cli(['--help']);
    assert.match(help.stdout, /credentials set REF --kind/);
  });

  test('destinations test: write-only (reads and deletes denied) is valid; full rights are reported as such', async () => {
    const full = await cli(['destinations', 'test', '--to', `s3://${BUCKET}/probe`, ...s3Flags(s3.endpoint)]);
    assert.equal(full.code, 0, full.stdout + full.stderr);
    assert.match(full.stdout, /^write: yes$/m);
    assert.match(full.stdout, /^read: yes$/m);
    assert.match(full.stdout, /^delete: yes$/m);

    const proxy = await startFaultProxy({ target: s3.endpoint, denyReads: true });
    try {
      const writeOnly = await cli(['destinations', 'test', '--to', `s3://${BUCKET}/probe`, ...s3Flags(proxy.endpoint)]);
      assert.equal(writeOnly.code, 0, writeOnly.stdout + writeOnly.stderr);
      assert.match(writeOnly.stdout, /^write: yes$/m);
      assert.match(writeOnly.stdout, /^read: no$/m);
      assert.match(writeOnly.stderr, /write-only is a valid setup/);
      assert.ok((proxy.injected.get('denied') ?? 0) > 0);
    } finally {
      await proxy.dispose();
    }
  });

  test('through drops, 500, 503 and SlowDown an export completes with every seq exactly once', async () => {
    let seqTo = 0;
    // Every request fails once, the kinds taken in turn: each kind is met whatever the run's object names.
    let next = 0;
    const proxy = await startFaultProxy({ target: s3.endpoint, decide: (r) => (r.attempt === 0 ? (FAULTS[next++ % FAULTS.length] ?? null) : null) });
    try {
      const exported = await cli(['export', '--to', `s3://${BUCKET}/faults`, ...s3Flags(proxy.endpoint), '--layout', 'hive', '--gzip', '--json']);
      assert.equal(exported.code, 0, exported.stdout + exported.stderr);
      seqTo = (JSON.parse(exported.stdout) as ExportRun).seq_to;
      for (const fault of FAULTS) assert.ok((proxy.injected.get(fault) ?? 0) > 0, `no ${fault} was injected`);
    } finally {
      await proxy.dispose();
    }
    const local = (await localEntries(client)).map((e) => e.seq).filter((seq) => seq <= seqTo);
    assert.ok(local.length >= 150);
    assert.deepEqual([...(await exportedSeqs(s3, 'faults'))].sort((a, b) => a - b), local);
    const verified = await cli(['verify-export', `s3://${BUCKET}/faults`, ...s3Flags(s3.endpoint)]);
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
  });

  test('credentials: never from arguments, never echoed, nowhere in argv, state, logs or the bucket; remove', async () => {
    const refused = await cli(['credentials', 'set', `${ref}-argv`, 'AKIAFROMARGV', '--kind', 's3']);
    assert.equal(refused.code, 2);
    assert.doesNotMatch(refused.stderr + refused.stdout, /AKIAFROMARGV/);
    const empty = await cli(['credentials', 'set', `${ref}-empty`, '--kind', 's3'], `${S3RVER_KEYS.accessKeyId}\n`);
    assert.equal(empty.code, 2, empty.stderr);

    for (const text of [...outputs, daemon.output()]) assert.ok(!text.includes(secret), 'the secret was printed');
    const cmdline = await readFile(`/proc/${daemon.child.pid}/cmdline`, 'utf8');
    assert.ok(!cmdline.includes(secret));
    for (const path of await filesUnder(home.path)) assert.ok(!(await readFile(path)).includes(secret), `the secret is in ${path}`);
    for (const [key, bytes] of await s3.storedObjects(BUCKET)) assert.ok(!bytes.includes(secret), `the secret is in ${key}`);

    const other = `${ref}-removed`;
    assert.equal((await cli(['credentials', 'set', other, '--kind', 's3'], `${S3RVER_KEYS.accessKeyId}\n${secret}\n`)).code, 0);
    assert.equal((await cli(['credentials', 'remove', other])).code, 0);
    const again = await cli(['credentials', 'remove', other]);
    assert.equal(again.code, 1);
    const gone = await cli(['export', '--to', `s3://${BUCKET}/gone`, '--endpoint', s3.endpoint, '--path-style', '--credentials-ref', other]);
    assert.notEqual(gone.code, 0);
    assert.match(gone.stderr, new RegExp(`credentials set ${other}`));
  });
});
