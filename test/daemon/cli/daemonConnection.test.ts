import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { DaemonClient } from '../../../daemon/client/daemonClient.ts';
import type { Entry } from '../../../daemon/protocol/entry.ts';
import { runCliProcess, startDaemonProcess, type DaemonProcess } from '../../support/daemonProcess.ts';
import { tempDir } from '../../support/tempDir.ts';

describe('the CLI and a live daemon whose files were deleted; the actor of audit entries (real daemon process)', () => {
  let home: { path: string; dispose(): Promise<void> };
  let daemon: DaemonProcess;
  const env = { AI_AUDIT_MASTER_KEY: randomBytes(32).toString('base64') };

  before(async () => {
    home = await tempDir('cli-connection');
    daemon = await startDaemonProcess(home.path, env);
  });
  after(async () => {
    await daemon?.stop();
    await home?.dispose();
  });

  /** Removes a file of the data dir for the duration of `work`, then puts it back. */
  async function without(file: string, work: () => Promise<void>): Promise<void> {
    const path = join(home.path, file);
    const content = await readFile(path);
    await rm(path);
    try {
      await work();
    } finally {
      await writeFile(path, content, { mode: 0o600 });
    }
  }

  test('daemon.json deleted: status and query say which daemon holds the lock and how to restart it', async () => {
    await without('daemon.json', async () => {
      for (const args of [['status'], ['query', '--limit', '1']]) {
        const run = await runCliProcess([...args, '--home', home.path], { env });
        assert.equal(run.code, 2, `${args[0]}: ${run.stdout}${run.stderr}`);
        assert.doesNotMatch(run.stdout + run.stderr, /not running|no daemon is running/);
        assert.match(run.stderr, new RegExp(`the daemon \\(pid ${daemon.child.pid}\\) holds the lock`));
        assert.match(run.stderr, /daemon\.json is missing/);
        assert.match(run.stderr, /restart it/);
      }
    });
  });

  test('token deleted: status says the running daemon has lost its token', async () => {
    await without('token', async () => {
      const run = await runCliProcess(['status', '--home', home.path], { env });
      assert.equal(run.code, 2, run.stdout + run.stderr);
      assert.match(run.stderr, new RegExp(`the daemon \\(pid ${daemon.child.pid}\\) is running but its token file`));
    });
  });

  test('with its files back, status finds the daemon again', async () => {
    const run = await runCliProcess(['status', '--home', home.path], { env });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, new RegExp(`running: pid ${daemon.child.pid}`));
  });

  async function newestAudit(kind: string): Promise<Entry> {
    const run = await runCliProcess(['query', '--kind', kind, '--limit', '1', '--home', home.path], { env });
    assert.equal(run.code, 0, run.stderr);
    return JSON.parse(run.stdout) as Entry;
  }

  test('an audit entry caused by the CLI records the OS user and the CLI as its actor', async () => {
    const days = String(10 + Math.floor(Math.random() * 1000));
    const set = await runCliProcess(['settings', '--retention-days', days, '--home', home.path], { env });
    assert.equal(set.code, 0, set.stderr);
    const entry = await newestAudit('audit.settings');
    assert.equal((entry.audit?.changed as Record<string, { to: number }>).retention_days?.to, Number(days));
    assert.equal(entry.actor?.user_id, userInfo().username);
    assert.match(entry.actor?.client ?? '', /^ai-audit-cli\/\d+\.\d+\.\d+/);
  });

  test('a client named at connect is the actor; a request may name itself instead', async () => {
    const client = await DaemonClient.connect({ port: daemon.discovery.port, token: daemon.token }, { client: { name: 'review-tool/2', user: 'zoë' } });
    try {
      await client.request('retention.run', { older_than_days: 36_500 });
      const byHeaders = await newestAudit('audit.retention');
      assert.deepEqual(byHeaders.actor, { user_id: 'zoë', client: 'review-tool/2' });

      const answered = new Promise<string>((resolve) => {
        const raw = new WebSocket(`ws://127.0.0.1:${daemon.discovery.port}/v1`, { headers: { Authorization: `Bearer ${daemon.token}` } });
        raw.once('open', () => raw.send(JSON.stringify({ id: 1, method: 'retention.run', params: { older_than_days: 36_500 }, client: { name: 'cron-job', user: 'ops' } })));
        raw.once('message', (data) => {
          raw.close();
          resolve(data.toString());
        });
      });
      assert.match(await answered, /"result"/);
      const byRequest = await newestAudit('audit.retention');
      assert.deepEqual(byRequest.actor, { user_id: 'ops', client: 'cron-job' });
    } finally {
      await client.dispose();
    }
  });
});
