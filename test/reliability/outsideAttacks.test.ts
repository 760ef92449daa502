import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, copyFile, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import WebSocket from 'ws';
import { openKeyStore } from '../../daemon/keys/openKeyStore.ts';
import { DaemonState } from '../../daemon/state/daemonState.ts';
import { AuditStore } from '../../daemon/store/auditStore.ts';
import { runCliProcess, startDaemonProcess, type DaemonProcess } from '../support/daemonProcess.ts';
import { segmentFiles } from '../support/segmentFiles.ts';
import { suiteTempDirs } from '../support/suiteTempDirs.ts';
import { reliabilitySize } from './reliabilitySize.ts';

/*
 * Attacks from outside, written from the docs only (README, docs/entry.md §7–8, docs/protocol.md): files of
 * the data dir moved, copied and edited by someone without the keys, and a client that opens more
 * connections than the daemon has file descriptors. Each test names the promise it holds the daemon to.
 */

const MASTER_KEY = randomBytes(32).toString('base64');
const ENV = { AI_AUDIT_MASTER_KEY: MASTER_KEY };

interface Report {
  ok: boolean;
  last_seq: number | null;
  problem: { code: string; reason: string } | null;
}

async function verifyOffline(home: string): Promise<Report> {
  const result = await runCliProcess(['verify', '--home', home, '--json'], { env: ENV });
  assert.ok(result.code === 0 || result.code === 1, result.stderr);
  return JSON.parse(result.stdout) as Report;
}

/** A stopped store of `sessions` daemon runs, small segments, every run ending with its checkpoint. */
async function victim(home: string, sessions = 3, perSession = 30): Promise<void> {
  for (let s = 0; s < sessions; s++) {
    const daemon = await startDaemonProcess(home, { ...ENV, AI_AUDIT_SEGMENT_MAX_BYTES: '2048' });
    const client = await daemon.connect();
    try {
      for (let i = 0; i < perSession; i += 10) {
        await client.request('ingest', { events: Array.from({ length: 10 }, (_, j) => ({ kind: 'chat.input' as const, input: `p ${s}-${i + j}`, decision: 'blocked' as const })) });
      }
    } finally {
      await client.dispose();
      assert.equal(await daemon.stop(), 0);
    }
  }
}

/** Starts the daemon on an attacked store and returns what it does: read-only, or the seq it writes next. */
async function restartOutcome(home: string): Promise<{ readOnly: string | null; nextSeq: number | null; daemon: DaemonProcess }> {
  const daemon = await startDaemonProcess(home, ENV);
  const client = await daemon.connect();
  try {
    const health = await client.request('health', {});
    if (health.read_only !== undefined) return { readOnly: health.read_only.code, nextSeq: null, daemon };
    const [ack] = (await client.request('ingest', { events: [{ kind: 'chat.input' }] })).acks;
    return { readOnly: null, nextSeq: ack !== undefined && 'seq' in ack ? ack.seq : null, daemon };
  } finally {
    await client.dispose();
  }
}

const checkpointsPath = (home: string): string => join(home, 'checkpoints.jsonl');

/** A checkpoint record edited without the key: verify names the signature, and the daemon starts read-only. */
async function assertCheckpointSignatureCaught(home: string): Promise<void> {
  const report = await verifyOffline(home);
  assert.equal(report.problem?.code, 'checkpoint_signature', JSON.stringify(report.problem));
  const outcome = await restartOutcome(home);
  try {
    assert.equal(outcome.readOnly, 'unverified_chain');
  } finally {
    await outcome.daemon.stop();
  }
}

describe('outside attacks on the data dir and the daemon', () => {
  const fresh = suiteTempDirs('outside');

  test('a closed segment copied under a new, higher number: verify fails, and the restart never reuses a seq', async () => {
    const home = await fresh('dup-segment');
    await victim(home);
    const before = await verifyOffline(home);
    assert.ok(before.ok);
    const files = await segmentFiles(home);
    const copyOf = files[1] ?? '';
    const newest = files.at(-1) ?? '';
    const number = Number(newest.slice(-12, -6)) + 1;
    const target = join(dirname(newest), `${String(number).padStart(6, '0')}.jsonl`);
    await copyFile(join(home, copyOf), join(home, target));

    const report = await verifyOffline(home);
    assert.equal(report.ok, false);
    assert.equal(report.problem?.code, 'seq_order', JSON.stringify(report.problem));
    const outcome = await restartOutcome(home);
    try {
      if (outcome.readOnly === null) assert.ok((outcome.nextSeq ?? 0) > (before.last_seq ?? 0), `seq ${outcome.nextSeq} reused`);
      else assert.equal(outcome.readOnly, 'unverified_chain');
    } finally {
      await outcome.daemon.stop();
    }
  });

  test("two closed segments' names swapped: verify fails", async () => {
    const home = await fresh('swap');
    await victim(home);
    const files = await segmentFiles(home);
    assert.ok(files.length >= 4, `only ${files.length} segments`);
    const [a, b] = [join(home, files[0] ?? ''), join(home, files[1] ?? '')];
    await rename(a, `${a}.tmp`);
    await rename(b, a);
    await rename(`${a}.tmp`, b);
    const report = await verifyOffline(home);
    assert.equal(report.ok, false);
    assert.ok(['seq_order', 'seq_gap', 'missing_start'].includes(report.problem?.code ?? ''), JSON.stringify(report.problem));
  });

  test("a checkpoint record's n changed (to hide a removed record): the signature fails, and the restart is read-only", async () => {
    const home = await fresh('renumber');
    await victim(home);
    const lines = (await readFile(checkpointsPath(home), 'utf8')).split('\n').filter((l) => l !== '');
    assert.ok(lines.length >= 3);
    // Remove record 2 and renumber record 3 as 2, as docs/entry.md §7.3 describes the fields.
    const third = JSON.parse(lines[2] ?? '{}') as { n: number };
    third.n = 2;
    await writeFile(checkpointsPath(home), [lines[0], JSON.stringify(third), ...lines.slice(3)].join('\n') + '\n');
    await assertCheckpointSignatureCaught(home);
  });

  test('a record of checkpoints.jsonl cut mid-line with records after it: not taken for a torn tail; verify fails and nothing is cut off', async () => {
    const home = await fresh('midline');
    await victim(home);
    const text = await readFile(checkpointsPath(home), 'utf8');
    const lines = text.split('\n').filter((l) => l !== '');
    assert.ok(lines.length >= 3);
    const damaged = [lines[0], (lines[1] ?? '').slice(0, 40), ...lines.slice(2)].join('\n') + '\n';
    await writeFile(checkpointsPath(home), damaged);
    await assertCheckpointSignatureCaught(home);
    assert.equal(await readFile(checkpointsPath(home), 'utf8'), damaged, 'the start changed checkpoints.jsonl');
  });

  test('a data dir opened up to everyone (0777 dir, 0666 files): the daemon closes the dir to 0700 before it listens', { skip: process.platform === 'win32' }, async () => {
    const home = await fresh('perms');
    await victim(home, 1, 10);
    await chmod(home, 0o777);
    await chmod(checkpointsPath(home), 0o666);
    await chmod(join(home, 'state.json'), 0o666);
    const daemon = await startDaemonProcess(home, ENV);
    try {
      assert.equal((await stat(home)).mode & 0o777, 0o700);
      assert.equal((await stat(join(home, 'token'))).mode & 0o777, 0o600);
      assert.equal((await stat(join(home, 'daemon.json'))).mode & 0o777, 0o600);
    } finally {
      await daemon.stop();
    }
  });

  test('retention_days lowered by hand in state.json (a documented limit): the daemon drops history, but on the record', async () => {
    // state.json is not signed (docs/entry.md §7.5): the daemon acts on the setting as it finds it. What must
    // hold: the drop is signed (verify passes, as it would after a settings.set), and an audit.retention
    // entry names the days it used, while no audit.settings entry set them.
    const home = await fresh('state-retention');
    const state = await DaemonState.open(home);
    const keys = await openKeyStore({ home, env: ENV, generation: state.keyGeneration }).load();
    let clock = Date.now() - 30 * 86_400_000;
    const store = await AuditStore.open({ home, keys, contentMode: () => 'hash', log: () => undefined, now: () => clock, segmentMaxBytes: 2048 });
    for (let i = 0; i < 40; i++) {
      await store.ingest([{ kind: 'chat.input', input: `p${i}` }]);
      clock += 1_000;
    }
    await store.close();
    const path = join(home, 'state.json');
    const doc = JSON.parse(await readFile(path, 'utf8')) as { settings: { retention_days: number } };
    assert.equal(doc.settings.retention_days, 90);
    doc.settings.retention_days = 7;
    await writeFile(path, JSON.stringify(doc));

    const daemon = await startDaemonProcess(home, ENV);
    const client = await daemon.connect();
    try {
      let records: Array<{ audit?: Record<string, unknown> }> = [];
      const deadline = Date.now() + 20_000;
      while (records.length === 0 && Date.now() < deadline) {
        records = (await client.request('query', { filter: { kind: 'audit.retention' } })).entries;
        if (records.length === 0) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert.equal(records.length, 1, 'the drop is not on the record');
      assert.equal(records[0]?.audit?.older_than_days, 7);
      assert.ok(Number(records[0]?.audit?.dropped_entries) > 0);
      assert.equal((await client.request('query', { filter: { kind: 'audit.settings' } })).entries.length, 0);
      assert.ok((await client.request('verify', {})).ok);
    } finally {
      await client.dispose();
      await daemon.stop();
    }
  });

  test('a frame of 10^6 small events is closed with 1009, one of 700,000 gets invalid_params; the daemon stores what follows', async () => {
    const home = await fresh('million');
    const daemon = await startDaemonProcess(home, ENV);
    try {
      const frame = (events: number, id: number): string => `{"id":${id},"method":"ingest","params":{"events":[${Array(events).fill('{"kind":"chat.input"}').join(',')}]}}`;
      const open = async (): Promise<WebSocket> => {
        const ws = new WebSocket(`ws://127.0.0.1:${daemon.discovery.port}/v1`, { headers: { authorization: `Bearer ${daemon.token}` } });
        await new Promise((resolve, reject) => {
          ws.once('open', resolve);
          ws.once('error', reject);
        });
        return ws;
      };
      const million = await open();
      const closed = new Promise<number>((resolve) => million.once('close', (code) => resolve(code)));
      million.on('error', () => undefined);
      million.send(frame(1_000_000, 1));
      assert.equal(await closed, 1009);

      const big = await open();
      const answer = new Promise<{ error?: { code: string } }>((resolve) => big.once('message', (data) => resolve(JSON.parse(String(data)) as { error?: { code: string } })));
      const text = frame(700_000, 2);
      assert.ok(text.length < 16 * 1024 * 1024);
      big.send(text);
      assert.equal((await answer).error?.code, 'invalid_params');
      big.close();

      const client = await daemon.connect();
      try {
        const [ack] = (await client.request('ingest', { events: [{ kind: 'chat.input' }] })).acks;
        assert.ok(ack !== undefined && 'seq' in ack && ack.seq === 1, JSON.stringify(ack));
      } finally {
        await client.dispose();
      }
    } finally {
      assert.equal(await daemon.stop(), 0);
    }
  });

  const CONNECTIONS = reliabilitySize({ ci: 400, full: 1000 });

  test(`${CONNECTIONS} connections against a daemon limited to 256 file descriptors: it stays up, nothing acknowledged is lost, and it writes again once they close`, { skip: process.platform !== 'linux' }, async (t) => {
    const home = await fresh('fds');
    const daemon = await startDaemonProcess(home, ENV);
    const pid = daemon.child.pid ?? 0;
    try {
      execFileSync('prlimit', ['--pid', String(pid), '--nofile=256:256']);
    } catch {
      t.skip('prlimit is not available');
      await daemon.stop();
      return;
    }
    const writer = await daemon.connect();
    const acked: number[] = [];
    const ingestOne = async (n: number): Promise<string | null> => {
      try {
        const [ack] = (await writer.request('ingest', { events: [{ kind: 'chat.input', input: `fd ${n}`, idempotency_key: `fd-${n}` }] })).acks;
        if (ack !== undefined && 'seq' in ack) acked.push(ack.seq);
        return ack !== undefined && 'code' in ack ? String(ack.code) : null;
      } catch (error: unknown) {
        return (error as { code?: string }).code ?? 'error';
      }
    };
    assert.equal(await ingestOne(0), null);

    const sockets: WebSocket[] = [];
    let refused = 0;
    await Promise.all(
      Array.from({ length: CONNECTIONS }, async () => {
        const ws = new WebSocket(`ws://127.0.0.1:${daemon.discovery.port}/v1`, { headers: { authorization: `Bearer ${daemon.token}` } });
        sockets.push(ws);
        ws.on('error', () => undefined);
        const outcome = await new Promise<string>((resolve) => {
          ws.once('open', () => resolve('open'));
          ws.once('close', () => resolve('close'));
        });
        if (outcome !== 'open') refused++;
      }),
    );
    // While every descriptor is taken: writes get a typed error or succeed; the daemon does not exit.
    const during: Array<string | null> = [];
    for (let i = 1; i <= 5; i++) during.push(await ingestOne(i));
    assert.equal(daemon.child.exitCode, null, daemon.output());
    for (const ws of sockets) ws.terminate();
    await new Promise((resolve) => setTimeout(resolve, 500));

    // Once they are gone: writable again, not stuck read-only, and everything acknowledged is there.
    const health = await writer.request('health', {});
    assert.equal(health.read_only, undefined, JSON.stringify(health.read_only));
    for (let i = 6; i <= 10; i++) assert.equal(await ingestOne(i), null);
    const report = await writer.request('verify', {});
    assert.ok(report.ok, JSON.stringify(report.problem));
    for (const seq of acked) assert.equal((await writer.request('get', { seq })).entry.seq, seq);
    await writer.dispose();
    assert.equal(await daemon.stop(), 0);
    const offline = await verifyOffline(home);
    assert.ok(offline.ok, JSON.stringify(offline.problem));
    t.diagnostic(`${CONNECTIONS} connections, ${refused} refused; writes while descriptors were exhausted: ${JSON.stringify(during)}; ${acked.length} acknowledged`);
  });
});

