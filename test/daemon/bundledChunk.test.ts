// The built daemon loads its export SDKs from chunks beside the entry (dist/cli-chunks/, named by
// content hash). Copied as an install would be, with no repository around it, it loads them; when an upgrade
// removed them while it ran, the request that needs one fails with `daemon_outdated` and the daemon goes on
// serving everything else.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { cp, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { DaemonClient } from '../../daemon/client/daemonClient.ts';
import { readDiscovery } from '../../daemon/client/daemonDiscovery.ts';
import { AuditError, ErrorCodes } from '../../daemon/protocol/errors.ts';
import { CLI } from '../support/daemonProcess.ts';
import { startS3rver, type S3rverServer } from '../support/s3rverServer.ts';
import { suiteTempDirs } from '../support/suiteTempDirs.ts';

const MASTER_KEY = Buffer.alloc(32, 7).toString('base64');
const BUCKET = 'chunk-test';
const dir = suiteTempDirs('bundled-chunk');
let s3: S3rverServer;
let install: string;

before(async () => {
  s3 = await startS3rver({ buckets: [BUCKET] });
  install = await dir('install');
  await mkdir(join(install, 'dist'));
  await cp(CLI, join(install, 'dist/cli.mjs'));
  await cp(join(CLI, '../cli-main.cjs'), join(install, 'dist/cli-main.cjs'));
  await cp(join(CLI, '../cli-chunks'), join(install, 'dist/cli-chunks'), { recursive: true });
});
after(() => s3.dispose());

async function startInstalled(home: string): Promise<{ child: ChildProcess; client: DaemonClient; output: () => string }> {
  const env = { ...process.env, AI_AUDIT_MASTER_KEY: MASTER_KEY, AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_PROFILE: '' };
  const child = spawn(process.execPath, [join(install, 'dist/cli.mjs'), 'daemon', '--home', home], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let output = '';
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  for (;;) {
    const found = await readDiscovery(home);
    if (found !== null && found.discovery.pid === child.pid) {
      const client = await DaemonClient.connect({ port: found.discovery.port, token: found.token });
      return { child, client, output: () => output };
    }
    assert.equal(child.exitCode, null, `the daemon exited:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function stop({ child, client }: { child: ChildProcess; client: DaemonClient }): Promise<void> {
  await client.dispose();
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  assert.deepEqual(await exited, [0, null]);
}

const config = () => ({ type: 's3-compatible' as const, bucket: BUCKET, endpoint: s3.endpoint, region: 'us-east-1', credentials: { source: 'default' as const } });

test('an installed daemon loads its S3 backend from its chunks', async () => {
  const daemon = await startInstalled(await dir('intact'));
  try {
    const probe = await daemon.client.request('destinations.test', { config: config() });
    assert.equal(probe.write, true, daemon.output());
  } finally {
    await stop(daemon);
  }
});

test('a daemon that loaded its S3 backend before an upgrade removed the chunks goes on exporting with it', async () => {
  // The SDK inside the chunk loads a few parts of its own on first use (event streams, a browser user-agent
  // parser: chunks of their own). None is on the export's path, so a loaded backend needs no other chunk;
  // if one ever were, its failure is daemon_outdated (storageError), never internal.
  const daemon = await startInstalled(await dir('loaded'));
  try {
    await daemon.client.request('ingest', { events: [{ kind: 'chat.input', input: 'before', actor: { user_id: 'ada' } }] });
    const first = await daemon.client.request('export.run', { destination: config(), prefix: 'before-upgrade', layout: 'hive', gzip: false });
    assert.equal(first.status, 'succeeded', daemon.output());
    await rm(join(install, 'dist/cli-chunks'), { recursive: true });
    await daemon.client.request('ingest', { events: [{ kind: 'chat.input', input: 'after', actor: { user_id: 'ada' } }] });
    const second = await daemon.client.request('export.run', { destination: config(), prefix: 'after-upgrade', layout: 'hive', gzip: true });
    assert.equal(second.status, 'succeeded', daemon.output());
    assert.equal((await daemon.client.request('destinations.test', { config: config() })).write, true);
  } finally {
    await stop(daemon);
    await cp(join(CLI, '../cli-chunks'), join(install, 'dist/cli-chunks'), { recursive: true });
  }
});

test('a daemon whose chunks an upgrade removed answers daemon_outdated and keeps serving', async () => {
  const daemon = await startInstalled(await dir('upgraded'));
  try {
    await rm(join(install, 'dist/cli-chunks'), { recursive: true });
    const error = await daemon.client.request('destinations.test', { config: config() }).then(
      () => assert.fail('destinations.test succeeded without its chunk'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof AuditError, String(error));
    assert.equal(error.code, ErrorCodes.DaemonOutdated);
    const { acks } = await daemon.client.request('ingest', { events: [{ kind: 'chat.input', input: 'still here', actor: { user_id: 'ada' } }] });
    assert.equal(acks.length, 1);
    assert.ok('seq' in acks[0]!, JSON.stringify(acks));
    // An export run (also an Azure one) fails the same way, is recorded as failed, and the store goes on:
    // query, verify and the runs list answer, and the daemon stops cleanly.
    for (const destination of [config(), { type: 'azure' as const, account: 'acct1', container: 'con', endpoint: 'http://127.0.0.1:1/acct1', credentials: { source: 'default' as const } }]) {
      const failed = await daemon.client.request('export.run', { destination, layout: 'hive', gzip: false }).then(
        () => assert.fail('export.run succeeded without its chunk'),
        (e: unknown) => e,
      );
      assert.ok(failed instanceof AuditError, String(failed));
      assert.equal(failed.code, ErrorCodes.DaemonOutdated, failed.message);
    }
    const runs = await daemon.client.request('export.runs', {});
    assert.ok(runs.runs.length >= 2 && runs.runs.every((r) => r.status === 'failed' && r.error?.code === ErrorCodes.DaemonOutdated), JSON.stringify(runs));
    const page = await daemon.client.request('query', { limit: 5 });
    assert.ok(page.entries.some((e) => e.kind === 'chat.input'));
    assert.equal((await daemon.client.request('verify', {})).ok, true);
    assert.equal(daemon.child.exitCode, null, daemon.output());
  } finally {
    await stop(daemon);
  }
});
