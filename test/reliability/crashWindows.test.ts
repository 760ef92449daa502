import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, watch } from 'node:fs';
import { once } from 'node:events';
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { openKeyStore } from '../../daemon/keys/openKeyStore.ts';
import { DaemonState } from '../../daemon/state/daemonState.ts';
import { AuditStore } from '../../daemon/store/auditStore.ts';
import { runCliProcess, startDaemonProcess, type DaemonProcess } from '../support/daemonProcess.ts';
import { segmentFiles } from '../support/segmentFiles.ts';
import { suiteTempDirs } from '../support/suiteTempDirs.ts';
import { reliabilitySize } from './reliabilitySize.ts';

/*
 * SIGKILL inside the daemon's multi-step writes that the crash loop does not reach: the retention job
 * (anchor signed, then segments deleted one by one) and key rotation (state or keychain written, then the
 * first record signed with the new key). After each kill: the store verifies offline, the next start is
 * writable (not read-only), and the chain goes on without reusing a seq.
 */

const MASTER_KEY = randomBytes(32).toString('base64');
const ENV = { AI_AUDIT_MASTER_KEY: MASTER_KEY };
const DAY_MS = 86_400_000;

async function verifyOffline(home: string, extra: string[] = []): Promise<{ ok: boolean; last_seq: number | null; last_hash: string | null; problem: { code: string } | null }> {
  const result = await runCliProcess(['verify', '--home', home, '--json', ...extra], { env: ENV });
  assert.ok(result.code === 0 || result.code === 1, result.stderr);
  return JSON.parse(result.stdout) as { ok: boolean; last_seq: number | null; last_hash: string | null; problem: { code: string } | null };
}

/** A store written 200 days ago (so the daily retention drops it), in many small segments. */
async function oldStore(home: string, events: number): Promise<void> {
  const state = await DaemonState.open(home);
  const keys = await openKeyStore({ home, env: ENV, generation: state.keyGeneration }).load();
  let clock = Date.now() - 200 * DAY_MS;
  const store = await AuditStore.open({ home, keys, contentMode: () => 'hash', log: () => undefined, now: () => clock, segmentMaxBytes: 1024 });
  for (let i = 0; i < events; i++) {
    const acks = await store.ingest([{ kind: 'chat.input', input: `old prompt ${i}`, decision: i % 2 === 0 ? 'blocked' : 'allowed' }]);
    assert.ok(acks.every((a) => 'seq' in a));
    clock += 5_000;
  }
  await store.close();
}

/**
 * Starts a daemon on an {@link oldStore}, whose start-up retention job drops every closed segment
 * (200 days > 90), and SIGKILLs it at the job's first deletion, by the pid in daemon.lock: the job starts
 * before the daemon's port is announced to the test. Returns the segments there were before.
 */
async function killDuringRetention(home: string): Promise<string[]> {
  const segmentsBefore = await segmentFiles(home);
  assert.ok(segmentsBefore.length > 20, `only ${segmentsBefore.length} segments`);
  const first = segmentsBefore[0] ?? '';
  let killed = false;
  const watcher = watch(join(home, dirname(first)), (_event, name) => {
    if (killed || name === null || !first.endsWith(name)) return;
    killed = true;
    process.kill(Number(readFileSync(join(home, 'daemon.lock'), 'utf8').trim()), 'SIGKILL');
  });
  try {
    const daemon = await startDaemonProcess(home, ENV).catch(() => null);
    const deadline = Date.now() + 20_000;
    while (!killed && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.ok(killed, 'retention never deleted the first segment');
    if (daemon !== null && daemon.child.exitCode === null && daemon.child.signalCode === null) await once(daemon.child, 'exit');
  } finally {
    watcher.close();
  }
  return segmentsBefore;
}

/** Starts a daemon and asserts it is writable: health has no read_only, and an ingest gets the next seq. */
async function assertWritable(daemon: DaemonProcess, lastSeq: number): Promise<number> {
  const client = await daemon.connect();
  try {
    const health = await client.request('health', {});
    assert.equal(health.read_only, undefined, `read-only after the kill: ${JSON.stringify(health.read_only)}`);
    const [ack] = (await client.request('ingest', { events: [{ kind: 'chat.input', input: 'after the kill' }] })).acks;
    assert.ok(ack !== undefined && 'seq' in ack, JSON.stringify(ack));
    assert.ok(ack.seq > lastSeq, `seq ${ack.seq} reused (the chain had reached ${lastSeq})`);
    return ack.seq;
  } finally {
    await client.dispose();
  }
}

describe('SIGKILL inside multi-step writes', () => {
  const fresh = suiteTempDirs('crashwin');

  const OLD_EVENTS = reliabilitySize({ ci: 240, full: 1200 });

  test('a kill while retention deletes segments (after its anchor): verify passes, the next start is writable and finishes the job', async (t) => {
    const home = await fresh('retention');
    await oldStore(home, OLD_EVENTS);
    const before = await verifyOffline(home);
    assert.ok(before.ok, JSON.stringify(before.problem));
    const segmentsBefore = await killDuringRetention(home);
    const left = await segmentFiles(home);
    t.diagnostic(`killed with ${left.length} of ${segmentsBefore.length} segments left`);

    const afterKill = await verifyOffline(home);
    assert.ok(afterKill.ok, `verify after the kill: ${JSON.stringify(afterKill.problem)}`);
    // A checkpoint kept elsewhere before the job still holds: the anchor vouches for what was dropped.
    const expect = await verifyOffline(home, ['--expect', `${before.last_seq}:${before.last_hash}`]);
    assert.ok(expect.ok, JSON.stringify(expect.problem));

    const restarted = await startDaemonProcess(home, ENV);
    try {
      await assertWritable(restarted, before.last_seq ?? 0);
      const client = await restarted.connect();
      try {
        // The job runs again at start and drops what the kill left.
        const deadline = Date.now() + 20_000;
        while ((await segmentFiles(home)).length > 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
        assert.ok((await segmentFiles(home)).length <= 2, `segments left: ${(await segmentFiles(home)).join(', ')}`);
        const report = await client.request('verify', {});
        assert.ok(report.ok, JSON.stringify(report.problem));
      } finally {
        await client.dispose();
      }
    } finally {
      assert.equal(await restarted.stop(), 0);
    }
    const final = await verifyOffline(home, ['--expect', `${before.last_seq}:${before.last_hash}`]);
    assert.ok(final.ok, JSON.stringify(final.problem));
  });

  test('a kill while retention deletes segments, then the signed end damaged: `ai-audit repair` mends it', async () => {
    const home = await fresh('retention-repair');
    await oldStore(home, OLD_EVENTS);
    await killDuringRetention(home);
    assert.ok((await verifyOffline(home)).ok);
    // Media damage at the signed end of the newest segment: the start refuses to cut it, repair must.
    const newest = join(home, (await segmentFiles(home)).at(-1) ?? '');
    const text = await readFile(newest, 'utf8');
    await writeFile(newest, text.slice(0, text.length - 40));
    const damaged = await verifyOffline(home);
    assert.equal(damaged.ok, false);

    const repair = await runCliProcess(['repair', '--home', home], { env: ENV });
    assert.equal(repair.code, 0, repair.stdout + repair.stderr);
    const repaired = await verifyOffline(home);
    assert.ok(repaired.ok, JSON.stringify(repaired.problem));
    const daemon = await startDaemonProcess(home, ENV);
    try {
      await assertWritable(daemon, OLD_EVENTS);
    } finally {
      assert.equal(await daemon.stop(), 0);
    }
    const final = await verifyOffline(home);
    assert.ok(final.ok, JSON.stringify(final.problem));
  });

  test('a kill right after key rotation stored the new generation, before it signed anything: the next start uses it, old content still decrypts', async () => {
    const home = await fresh('rotate-state');
    let daemon = await startDaemonProcess(home, ENV);
    let client = await daemon.connect();
    await client.request('settings.set', { content_mode: 'encrypted' });
    const [ack] = (await client.request('ingest', { events: [{ kind: 'chat.input', input: 'encrypted before rotation' }] })).acks;
    assert.ok(ack !== undefined && 'seq' in ack);
    await client.dispose();
    assert.equal(await daemon.stop(), 0);

    // What a kill inside `keys.rotate` leaves in master-key mode: state.json names generation 2, and no
    // record is signed with it yet (the rotation writes the generation first).
    const statePath = join(home, 'state.json');
    const state = JSON.parse(await readFile(statePath, 'utf8')) as { key_generation: number };
    assert.equal(state.key_generation, 1);
    state.key_generation = 2;
    await writeFile(statePath, JSON.stringify(state));

    daemon = await startDaemonProcess(home, ENV);
    try {
      const last = await assertWritable(daemon, ack.seq);
      client = await daemon.connect();
      try {
        assert.equal((await client.request('keys.status', {})).signing_key_id, 'm2');
        assert.equal((await client.request('decrypt', { seq: ack.seq })).input, 'encrypted before rotation');
        assert.ok(last > ack.seq);
      } finally {
        await client.dispose();
      }
    } finally {
      assert.equal(await daemon.stop(), 0);
    }
    const report = await verifyOffline(home);
    assert.ok(report.ok, JSON.stringify(report.problem));
  });

  const ROTATION_KILLS = reliabilitySize({ ci: 4, full: 20 });

  test(`${ROTATION_KILLS} kills at random moments of keys.rotate: every start is writable and the store verifies`, async (t) => {
    const home = await fresh('rotate-kill');
    let lastSeq = 0;
    const generationsSeen = new Set<string>();
    for (let round = 0; round < ROTATION_KILLS; round++) {
      const daemon = await startDaemonProcess(home, ENV);
      lastSeq = await assertWritable(daemon, lastSeq);
      const client = await daemon.connect();
      const status = await client.request('keys.status', {});
      generationsSeen.add(status.signing_key_id);
      // Send the rotation and kill after a random delay: before, inside or after its writes.
      const pending = client.request('keys.rotate', {}).catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, Math.floor(Math.random() * 40)));
      await daemon.kill9();
      await pending;
      await client.dispose().catch(() => undefined);
      const report = await verifyOffline(home);
      assert.ok(report.ok, `round ${round}: ${JSON.stringify(report.problem)}`);
    }
    const daemon = await startDaemonProcess(home, ENV);
    await assertWritable(daemon, lastSeq);
    assert.equal(await daemon.stop(), 0);
    const report = await verifyOffline(home);
    assert.ok(report.ok, JSON.stringify(report.problem));
    t.diagnostic(`${ROTATION_KILLS} kills during keys.rotate; active key ids seen: ${[...generationsSeen].join(', ')}`);
  });
});
