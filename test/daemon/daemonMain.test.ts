import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { appendFile, chmod, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { AuditError, ErrorCodes } from '../../daemon/protocol/errors.ts';
import type { IngestAck, IngestRejected } from '../../daemon/protocol/messages.ts';
import { DaemonClient } from '../../daemon/client/daemonClient.ts';
import { readDiscovery } from '../../daemon/client/daemonDiscovery.ts';
import { startDaemon } from '../../daemon/daemonMain.ts';
import { listSegments } from '../../daemon/store/segmentPaths.ts';
import { runCliProcess, startDaemonProcess, type DaemonProcess } from '../support/daemonProcess.ts';
import { tempDir } from '../support/tempDir.ts';
import { filesUnder } from '../support/filesUnder.ts';

const masterKeyEnv = () => ({ AI_AUDIT_MASTER_KEY: randomBytes(32).toString('base64') });

describe('daemon lifecycle (real processes, real files)', () => {
  let home: { path: string; dispose(): Promise<void> };
  const running: DaemonProcess[] = [];
  const start = async (env: NodeJS.ProcessEnv, args: string[] = []): Promise<DaemonProcess> => {
    const daemon = await startDaemonProcess(home.path, env, args);
    running.push(daemon);
    return daemon;
  };

  beforeEach(async () => {
    home = await tempDir('daemon');
  });
  afterEach(async () => {
    for (const daemon of running.splice(0)) await daemon.kill9();
    await home.dispose();
  });

  test('data dir 0700, token and discovery files 0600', async () => {
    // mkdtemp makes 0700 already: start from a folder anyone can read, as a hand-made one would be.
    await chmod(home.path, 0o755);
    const daemon = await start(masterKeyEnv());
    assert.equal((await stat(home.path)).mode & 0o777, 0o700);
    assert.equal((await stat(join(home.path, 'token'))).mode & 0o777, 0o600);
    assert.equal((await stat(join(home.path, 'daemon.json'))).mode & 0o777, 0o600);
    assert.equal(await daemon.stop(), 0);
    await assert.rejects(stat(join(home.path, 'daemon.json')), { code: 'ENOENT' });
  });

  test('entries persist across a restart and the chain continues', async () => {
    const env = masterKeyEnv();
    let daemon = await start(env);
    let client = await daemon.connect();
    const first = (await client.request('ingest', { events: [{ kind: 'chat.input', input: 'before restart' }] })).acks[0] as IngestAck;
    await client.dispose();
    assert.equal(await daemon.stop(), 0);
    daemon = await start(env);
    client = await daemon.connect();
    const second = (await client.request('ingest', { events: [{ kind: 'chat.input' }] })).acks[0] as IngestAck;
    assert.equal(second.seq, first.seq + 1);
    assert.equal((await client.request('get', { seq: first.seq })).entry.id, first.id);
    const report = await client.request('verify', {});
    assert.equal(report.ok, true, JSON.stringify(report.problem));
    await client.dispose();
  });

  test('kill -9 during ingest: every acknowledged event is there afterwards, and the chain verifies', async () => {
    const env = masterKeyEnv();
    const daemon = await start(env);
    const acks: IngestAck[] = [];
    const unexpected: unknown[] = [];
    let enoughAcks: () => void = () => undefined;
    const killPoint = new Promise<void>((resolve) => (enoughAcks = resolve));
    const writers = Array.from({ length: 4 }, async (_, w) => {
      const client = await daemon.connect();
      try {
        for (let i = 0; ; i++) {
          const batch = Array.from({ length: 50 }, (_, j) => ({ kind: 'chat.input' as const, input: `w${w}-${i}-${j}`, idempotency_key: `w${w}-${i}-${j}` }));
          const result = await client.request('ingest', { events: batch });
          for (const ack of result.acks) {
            if ('error' in ack) unexpected.push(ack.error);
            else acks.push(ack);
          }
          if (acks.length >= 400) enoughAcks();
        }
      } catch (error: unknown) {
        // The connection dies with the daemon: expected, and the only way out of the loop.
        if (!(error instanceof AuditError && error.code === ErrorCodes.ShuttingDown)) unexpected.push(error);
      }
    });
    // Kill while the writers are busy (after some acks, whatever the machine's speed), not after a set time.
    await killPoint;
    await daemon.kill9();
    await Promise.all(writers);
    assert.deepEqual(unexpected, []);

    const restarted = await start(env);
    const client = await restarted.connect();
    const health = await client.request('health', {});
    assert.ok(health.last_seq >= Math.max(...acks.map((a) => a.seq)));
    const stored = new Map<number, string>();
    let cursor: string | undefined;
    do {
      const page = await client.request('query', { limit: 1000, ...(cursor === undefined ? {} : { cursor }) });
      for (const entry of page.entries) stored.set(entry.seq, entry.id);
      cursor = page.next_cursor ?? undefined;
    } while (cursor !== undefined);
    for (const ack of acks) assert.equal(stored.get(ack.seq), ack.id, `acknowledged seq ${ack.seq} lost or changed`);
    const report = await client.request('verify', {});
    assert.equal(report.ok, true, JSON.stringify(report.problem));
    await client.dispose();
  });

  test('a torn last line is cut off on start and its bytes kept aside', async () => {
    const env = masterKeyEnv();
    const daemon = await start(env);
    const client = await daemon.connect();
    await client.request('ingest', { events: [{ kind: 'chat.input' }, { kind: 'chat.input' }] });
    await client.dispose();
    await daemon.kill9();
    const [segment] = await listSegments(home.path);
    assert.ok(segment);
    await appendFile(join(home.path, segment.file), '{"v":1,"seq":3,"kind":"chat.in');
    const restarted = await start(env);
    assert.match(restarted.output(), /repaired a torn last line/);
    const torn = await readdir(join(home.path, 'torn'));
    assert.equal(torn.length, 1);
    assert.equal(await readFile(join(home.path, 'torn', torn[0] ?? ''), 'utf8'), '{"v":1,"seq":3,"kind":"chat.in');
    const c = await restarted.connect();
    assert.equal((await c.request('health', {})).last_seq, 2);
    assert.equal((await c.request('verify', {})).ok, true);
    await c.dispose();
  });

  test('SIGINT stops the daemon like SIGTERM: exit 0, final checkpoint, discovery removed', async () => {
    const env = masterKeyEnv();
    const daemon = await start(env);
    const client = await daemon.connect();
    await client.request('ingest', { events: [{ kind: 'chat.input' }, { kind: 'chat.output' }] });
    await client.dispose();
    const exited = once(daemon.child, 'exit');
    daemon.child.kill('SIGINT');
    const [code, signal] = (await exited) as [number | null, string | null];
    assert.deepEqual({ code, signal }, { code: 0, signal: null });
    assert.match(daemon.output(), /stopping \(SIGINT\)/);
    await assert.rejects(stat(join(home.path, 'daemon.json')), { code: 'ENOENT' });
    const verify = await runCliProcess(['verify', '--json', '--home', home.path], { env });
    assert.equal(verify.code, 0, verify.stdout);
    assert.equal((JSON.parse(verify.stdout) as { unsigned_tail: number }).unsigned_tail, 0, 'the stop signed the chain end');
  });

  test('one daemon per data dir; a stale lock after kill -9 is taken over', async () => {
    const env = masterKeyEnv();
    const daemon = await start(env);
    const second = await runCliProcess(['daemon', '--home', home.path], { env });
    assert.equal(second.code, 2);
    assert.match(second.stderr, new RegExp(`another daemon \\(pid ${daemon.child.pid}\\)`));
    await daemon.kill9();
    const again = await start(env);
    assert.ok(again.discovery.pid !== daemon.discovery.pid);
  });

  test('without a keychain or master key: a clear error, exit 2, nothing listening', async () => {
    const result = await runCliProcess(['daemon', '--home', home.path], {
      env: { AI_AUDIT_MASTER_KEY: undefined, DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent/bus' },
    });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /keychain/i);
    assert.match(result.stderr, /AI_AUDIT_MASTER_KEY/);
    await assert.rejects(stat(join(home.path, 'daemon.json')), { code: 'ENOENT' });
  });

  test('with the OS keychain (gnome-keyring): keys persist across restarts', async () => {
    assert.ok(process.env.DBUS_SESSION_BUS_ADDRESS, 'the test runner provides a D-Bus session with gnome-keyring');
    const env = { AI_AUDIT_MASTER_KEY: undefined };
    let daemon = await start(env);
    let client = await daemon.connect();
    const status = await client.request('keys.status', {});
    assert.equal(status.source, 'keychain');
    await client.request('settings.set', { content_mode: 'encrypted' });
    const ack = (await client.request('ingest', { events: [{ kind: 'chat.input', input: 'keychain secret' }] })).acks[0] as IngestAck;
    await client.dispose();
    await daemon.stop();
    daemon = await start(env);
    client = await daemon.connect();
    assert.equal((await client.request('keys.status', {})).signing_public_key, status.signing_public_key);
    assert.equal((await client.request('decrypt', { seq: ack.seq })).input, 'keychain secret');
    assert.equal((await client.request('verify', {})).ok, true);
    await client.dispose();
  });

  test('the built daemon encrypts a large batch on its encryption worker: every field decrypts, the chain verifies', async () => {
    const daemon = await start(masterKeyEnv());
    const client = await daemon.connect();
    await client.request('settings.set', { content_mode: 'encrypted' });
    const events = Array.from({ length: 100 }, (_, i) => ({ kind: 'chat.input', input: `prompt ${i}`, ...(i % 3 === 0 ? { output: `answer ${i}` } : {}) }));
    const { acks } = await client.request('ingest', { events });
    for (const i of [0, 1, 50, 99]) {
      const decrypted = await client.request('decrypt', { seq: (acks[i] as IngestAck).seq });
      assert.equal(decrypted.input, `prompt ${i}`);
      assert.equal(decrypted.output, i % 3 === 0 ? `answer ${i}` : undefined);
    }
    assert.equal((await client.request('verify', {})).ok, true);
    await client.dispose();
    // The worker's chunk loads from dist/cli-chunks; had it failed, the daemon would have said so and encrypted itself.
    assert.doesNotMatch(daemon.output(), /encryption worker/);
  });

  test('no raw prompt text anywhere on disk in hash mode', async () => {
    const daemon = await start(masterKeyEnv());
    const client = await daemon.connect();
    const marker = `raw-prompt-${randomBytes(8).toString('hex')}`;
    await client.request('ingest', { events: [{ kind: 'chat.input', input: `please leak ${marker}`, output: `${marker}!` }] });
    await client.dispose();
    await daemon.stop();
    for (const file of await filesUnder(home.path)) {
      assert.ok(!(await readFile(file, 'latin1')).includes(marker), `${file} contains the raw prompt`);
    }
  });

  test('a segment edited by hand: the daemon starts and serves, verify names the entry', async () => {
    const env = masterKeyEnv();
    const daemon = await start(env);
    const client = await daemon.connect();
    await client.request('ingest', { events: [{ kind: 'chat.input', reason: 'original' }, { kind: 'chat.input' }] });
    await client.dispose();
    await daemon.stop();
    const [segment] = await listSegments(home.path);
    const path = join(home.path, segment?.file ?? '');
    await writeFile(path, (await readFile(path, 'utf8')).replace('original', 'tampered'));
    const restarted = await start(env);
    const c = await restarted.connect();
    const report = await c.request('verify', {});
    assert.equal(report.ok, false);
    assert.equal(report.problem?.seq, 1);
    assert.equal(report.problem?.code, 'hash_mismatch');
    assert.equal((await c.request('query', { limit: 5 })).entries.length, 2);
    await c.dispose();
  });

  test('disk full: ingest is refused with disk_full, reads go on, ingest resumes when space returns', async (t) => {
    if (process.getuid?.() !== 0) {
      t.skip('mounting a tmpfs needs root');
      return;
    }
    const mount = join(home.path, 'small');
    await mkdir(mount);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mount]);
    try {
      const dataDir = join(mount, 'data');
      const daemon = await startDaemonProcess(dataDir, masterKeyEnv());
      running.push(daemon);
      const client = await daemon.connect();
      const acked: IngestAck[] = [];
      let refused: IngestRejected | null = null;
      for (let i = 0; i < 2000 && refused === null; i++) {
        const { acks } = await client.request('ingest', {
          events: Array.from({ length: 20 }, () => ({ kind: 'chat.input' as const, metadata: { pad: 'x'.repeat(2000) } })),
        }).catch((error: { code: string; message: string }) => ({ acks: [{ error }] as IngestRejected[] }));
        for (const ack of acks) {
          if ('error' in ack) refused ??= ack;
          else acked.push(ack);
        }
      }
      assert.ok(refused !== null, 'the disk never filled');
      assert.equal(refused.error.code, 'disk_full');
      assert.equal((await client.request('health', {})).disk_full, true);
      const page = await client.request('query', { limit: 3 });
      assert.equal(page.entries[0]?.seq, acked.at(-1)?.seq, 'reads still work and see the last acknowledged entry');
      // Free space: make room by removing the filler the daemon does not own (its own log).
      await rm(join(dataDir, 'daemon.log'), { force: true });
      execFileSync('mount', ['-o', 'remount,size=4m', mount]);
      await new Promise((resolve) => setTimeout(resolve, 1100));
      const after = (await client.request('ingest', { events: [{ kind: 'chat.input' }] })).acks[0] as IngestAck;
      assert.equal(after.seq, (acked.at(-1)?.seq ?? 0) + 1);
      assert.equal((await client.request('health', {})).disk_full, false);
      const report = await client.request('verify', {});
      assert.equal(report.ok, true, JSON.stringify(report.problem));
      await client.dispose();
      await daemon.stop();
    } finally {
      execFileSync('umount', ['-l', mount]);
    }
  });
});

describe('daemon keys must fit the store', () => {
  test('another master key is refused with a clear error instead of silently making new keys', async () => {
    const home = await tempDir('wrong-key');
    try {
      const daemon = await startDaemonProcess(home.path, masterKeyEnv());
      const client = await daemon.connect();
      await client.request('ingest', { events: [{ kind: 'chat.input' }] });
      await client.dispose();
      await daemon.stop();
      const result = await runCliProcess(['daemon', '--home', home.path], { env: masterKeyEnv() });
      assert.equal(result.code, 2);
      assert.match(result.stderr, /holds no key m1 that signed this store's checkpoints/);
    } finally {
      await home.dispose();
    }
  });
});

describe('the daily retention job (daemon in this process, timers and clock mocked)', () => {
  test('runs every day; it is recorded only when it dropped something', async (t) => {
    const DAY_MS = 86_400_000;
    // The day timer and the clock are mocked (not setTimeout/setImmediate): a day passes without waiting one.
    t.mock.timers.enable({ apis: ['setInterval', 'Date'], now: Date.parse('2026-11-20T10:00:00Z') });
    const home = await tempDir('daily-retention');
    const daemon = await startDaemon({ home: home.path, port: 0, env: masterKeyEnv(), echo: () => undefined, segmentMaxBytes: 1024 });
    const found = await readDiscovery(home.path);
    assert.ok(found !== null);
    const client = await DaemonClient.connect({ port: found.discovery.port, token: found.token });
    try {
      const ingest = async (n: number) => {
        const { acks } = await client.request('ingest', { events: Array.from({ length: n }, () => ({ kind: 'chat.input' as const })) });
        assert.ok(acks.every((a) => !('error' in a)), JSON.stringify(acks));
      };
      // After two writes in a row, an audit.retention entry started by the timer before them is committed.
      const settle = async () => {
        await ingest(1);
        await ingest(1);
      };
      const retentionRecords = async () => (await client.request('query', { filter: { kind: 'audit.retention' }, limit: 10 })).entries;
      await client.request('settings.set', { retention_days: 1 });
      for (let i = 0; i < 20; i++) await ingest(1);
      assert.ok((await client.request('health', {})).segments > 3);

      t.mock.timers.tick(DAY_MS); // day 1: nothing is older than a day yet
      await settle();
      assert.deepEqual(await retentionRecords(), [], 'the daily job removed nothing and recorded nothing');
      const before = await client.request('health', {});

      t.mock.timers.tick(DAY_MS); // day 2: the first day's closed segments expire
      await settle();
      const records = await retentionRecords();
      assert.equal(records.length, 1, 'the daily job ran once and recorded what it dropped');
      const dropped = records[0]?.audit as { dropped_segments: number; dropped_entries: number; older_than_days: number };
      assert.equal(dropped.older_than_days, 1);
      assert.ok(dropped.dropped_segments > 0);
      const after = await client.request('health', {});
      assert.equal(after.first_seq, (before.first_seq ?? 0) + dropped.dropped_entries);
      const report = await client.request('verify', {});
      assert.equal(report.ok, true, JSON.stringify(report.problem));
    } finally {
      await client.dispose();
      await daemon.dispose();
      await home.dispose();
    }
  });
});
