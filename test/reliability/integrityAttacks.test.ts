import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { copyFile, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { openKeyStore } from '../../daemon/keys/openKeyStore.ts';
import { DaemonState } from '../../daemon/state/daemonState.ts';
import { AuditStore } from '../../daemon/store/auditStore.ts';
import { runCliProcess, startDaemonProcess } from '../support/daemonProcess.ts';
import { recordingWitness } from '../support/recordingWitness.ts';
import { suiteTempDirs } from '../support/suiteTempDirs.ts';
import { reliabilitySize } from './reliabilitySize.ts';
import { segmentFiles } from '../support/segmentFiles.ts';

/*
 * Attacks on the store's tamper evidence, written from the public rules of docs/entry.md (§7 canonical JSON,
 * hash chain, checkpoints; §8 storage layout) by someone who can write the data dir but has no keys. Each
 * attack passed `ai-audit verify` (or changed results) before issue 9.
 */

const MASTER_KEY = randomBytes(32).toString('base64');
const ENV = { AI_AUDIT_MASTER_KEY: MASTER_KEY };

// --- The attacker's toolkit: only what docs/entry.md §7 says. ---------------------------------------

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record).filter((k) => record[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(record[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

type Line = Record<string, unknown> & { seq: number; prev: string; hash: string };

/** Rewrites entries from index `from` on so that every `prev` and `hash` is right again. */
function rechain(entries: Line[], from: number): void {
  for (let i = from; i < entries.length; i++) {
    const entry = entries[i] as Line;
    if (i > 0) entry.prev = (entries[i - 1] as Line).hash;
    const { hash: _old, ...body } = entry;
    entry.hash = sha256(canonical(body));
  }
}

async function readEntries(path: string): Promise<Line[]> {
  return (await readFile(path, 'utf8'))
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Line);
}

const writeEntries = (path: string, entries: Line[]) => writeFile(path, entries.map((e) => `${canonical(e)}\n`).join(''));

async function checkpointLines(home: string): Promise<Array<Record<string, unknown> & { seq: number }>> {
  try {
    return (await readFile(join(home, 'checkpoints.jsonl'), 'utf8'))
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown> & { seq: number });
  } catch {
    return [];
  }
}

const writeCheckpointLines = (home: string, lines: Array<Record<string, unknown>>) =>
  writeFile(join(home, 'checkpoints.jsonl'), lines.map((l) => `${JSON.stringify(l)}\n`).join(''));

// --- The victim: a store used over an hour and more, with the daemon's own code and a steady clock. -----

const EVENTS_PER_SESSION = reliabilitySize({ ci: 24, full: 400 });

/** Two daemon sessions an hour apart, one event every 10 s, a third of them blocked. */
async function agedStore(home: string): Promise<void> {
  const state = await DaemonState.open(home);
  const keys = await openKeyStore({ home, env: ENV, generation: state.keyGeneration }).load();
  let clock = Date.parse('2026-11-20T09:00:00Z');
  for (let session = 0; session < 2; session++) {
    const store = await AuditStore.open({ home, keys, contentMode: () => 'hash', log: () => undefined, now: () => clock });
    for (let i = 0; i < EVENTS_PER_SESSION; i++) {
      const blocked = i % 3 === 0;
      const acks = await store.ingest([{ kind: 'governance.check', allowed: !blocked, model: 'gpt-4', reason: `check ${session}-${i}`, ts: new Date(clock).toISOString() }]);
      assert.ok(acks.every((a) => 'seq' in a));
      clock += 10_000;
    }
    await store.close();
    clock += 3_600_000;
  }
}

async function verifyCli(home: string, extra: string[] = []): Promise<{ code: number | null; stdout: string }> {
  const result = await runCliProcess(['verify', '--home', home, '--json', ...extra], { env: ENV });
  return { code: result.code, stdout: result.stdout };
}

describe('integrity attacks (docs/entry.md §7.5)', () => {
  const fresh = suiteTempDirs('attack');

  test('the victim store verifies before any attack', async () => {
    const home = await fresh('baseline');
    await agedStore(home);
    const { code, stdout } = await verifyCli(home);
    assert.equal(code, 0, stdout);
    assert.equal(JSON.parse(stdout).entries_checked, 2 * EVENTS_PER_SESSION);
  });

  /** Edits entry 4 (blocked → allowed), recomputes every later hash and removes what names them. */
  async function rewriteFromEntry4(home: string, dropCheckpoints: 'at-or-after' | 'whole-file'): Promise<void> {
    const files = await segmentFiles(home);
    const all: Array<{ file: string; entries: Line[] }> = [];
    for (const file of files) all.push({ file, entries: await readEntries(join(home, file)) });
    const flat = all.flatMap((s) => s.entries);
    const target = flat.find((e) => e.seq === 4) as Line;
    assert.equal(target.decision, 'blocked');
    target.decision = 'allowed';
    target.allowed = true;
    rechain(flat, flat.indexOf(target));
    for (const s of all) await writeEntries(join(home, s.file), s.entries);
    if (dropCheckpoints === 'whole-file') await rm(join(home, 'checkpoints.jsonl'));
    else await writeCheckpointLines(home, (await checkpointLines(home)).filter((c) => c.seq < 4));
  }

  for (const variant of ['at-or-after', 'whole-file'] as const) {
    test(`an edited entry with every later hash recomputed and the checkpoints ${variant === 'whole-file' ? 'file deleted' : 'naming it or later deleted'} fails verify, and a restart does not sign it`, async () => {
      const home = await fresh(`rewrite-${variant}`);
      await agedStore(home);
      await rewriteFromEntry4(home, variant);

      const { code, stdout } = await verifyCli(home);
      assert.equal(code, 1, stdout);
      assert.equal(JSON.parse(stdout).problem.code, 'checkpoint_missing');

      const before = await readFile(join(home, 'checkpoints.jsonl'), 'utf8').catch(() => '');
      const daemon = await startDaemonProcess(home, ENV);
      try {
        const client = await daemon.connect();
        try {
          const health = await client.request('health', {});
          assert.equal(health.read_only?.code, 'unverified_chain');
          await assert.rejects(client.request('ingest', { events: [{ kind: 'chat.input' }] }), (e: { code?: string }) => e.code === 'read_only');
          // Reads still work.
          assert.equal((await client.request('get', { seq: 1 })).entry.seq, 1);
        } finally {
          await client.dispose();
        }
      } finally {
        assert.equal(await daemon.stop(), 0);
      }
      assert.equal(await readFile(join(home, 'checkpoints.jsonl'), 'utf8').catch(() => ''), before, 'the restart signed the rewritten chain');
      assert.match(daemon.output(), /READ-ONLY/);
    });
  }

  test('a signed checkpoint removed from the middle of checkpoints.jsonl fails verify', async () => {
    const home = await fresh('drop-middle');
    await agedStore(home);
    const lines = await checkpointLines(home);
    assert.ok(lines.length >= 3, `only ${lines.length} checkpoints`);
    lines.splice(1, 1);
    await writeCheckpointLines(home, lines);
    const { code, stdout } = await verifyCli(home);
    assert.equal(code, 1, stdout);
    assert.equal(JSON.parse(stdout).problem.code, 'checkpoint_chain');
  });

  test('the newest segment replaced by an older copy, checkpoints past its end removed: the witness and --expect catch it', async () => {
    const home = await fresh('older-copy');
    const { witness, warnings } = recordingWitness(home);
    const session = async (events: number): Promise<void> => {
      const daemon = await startDaemonProcess(home, ENV);
      const client = await daemon.connect();
      try {
        await witness.check(client);
        for (let i = 0; i < events; i++) await client.request('ingest', { events: [{ kind: 'chat.input', input: `prompt ${i}`, decision: 'blocked' }] });
      } finally {
        await client.dispose();
        assert.equal(await daemon.stop(), 0);
      }
    };
    await session(5);
    const [segment] = await segmentFiles(home);
    assert.ok(segment !== undefined);
    const olderCopy = join(home, '..', `${segment.replaceAll('/', '_')}.copy`);
    await copyFile(join(home, segment), olderCopy);
    await session(5);
    const daemon = await startDaemonProcess(home, ENV);
    const client = await daemon.connect();
    await witness.check(client); // the witness sees the checkpoint at seq 10
    await client.dispose();
    await daemon.stop();
    const seen = witness.remembered;
    assert.equal(seen?.seq, 10);

    // The attack.
    await copyFile(olderCopy, join(home, segment));
    await rm(olderCopy);
    await writeCheckpointLines(home, (await checkpointLines(home)).filter((c) => c.seq <= 5));

    const expected = await verifyCli(home, ['--expect', `${seen?.seq}:${seen?.hash}`]);
    assert.equal(expected.code, 1, expected.stdout);
    assert.equal(JSON.parse(expected.stdout).problem.code, 'expected_missing');

    const after = await startDaemonProcess(home, ENV);
    const afterClient = await after.connect();
    try {
      await witness.check(afterClient);
      assert.equal(warnings.length, 1, 'the witness raised no alarm');
      assert.match(warnings[0] ?? '', /went backwards/);
      const recorded = await afterClient.request('query', { filter: { kind: 'audit.witness' } });
      assert.equal(recorded.entries.length, 1, 'no audit.witness entry');
      assert.equal(recorded.entries[0]?.decision, 'error');
      // Once per finding, not once per reconnect.
      await witness.check(afterClient);
      assert.equal(warnings.length, 1);
    } finally {
      await afterClient.dispose();
      await after.stop();
    }
  });

  test('a closed segment summary rewritten (blocked → allowed) changes neither query nor stats, and verify reports it', async () => {
    const home = await fresh('summary');
    const env = { ...ENV, AI_AUDIT_SEGMENT_MAX_BYTES: '4096' };
    const total = reliabilitySize({ ci: 60, full: 3000 });
    let daemon = await startDaemonProcess(home, env);
    let client = await daemon.connect();
    for (let i = 0; i < total; i += 10) {
      const events = Array.from({ length: 10 }, (_, j) => ({ kind: 'governance.check' as const, allowed: (i + j) % 2 === 0, model: 'gpt-4' }));
      await client.request('ingest', { events });
    }
    const blockedBefore = await countBlocked(home, env);
    const statsBefore = await client.request('stats', {});
    await client.dispose();
    await daemon.stop();
    assert.equal(blockedBefore, total / 2);

    // The attack: every closed segment's summary now says its blocked entries were allowed.
    const summaries = (await segmentFiles(home)).slice(0, -1).map((f) => f.replace(/\.jsonl$/, '.summary.json'));
    assert.ok(summaries.length >= 2, 'the store did not rotate');
    for (const file of summaries) {
      const summary = JSON.parse(await readFile(join(home, file), 'utf8')) as Record<string, unknown> & {
        decisions: Record<string, number>;
        days: Record<string, Record<string, number>>;
      };
      const move = (counts: Record<string, number>) => {
        counts.allowed = (counts.allowed ?? 0) + (counts.blocked ?? 0);
        delete counts.blocked;
      };
      move(summary.decisions);
      for (const day of Object.values(summary.days)) move(day);
      await writeFile(join(home, file), JSON.stringify(summary));
    }

    const offline = await verifyCli(home);
    assert.equal(offline.code, 1, offline.stdout);
    assert.equal(JSON.parse(offline.stdout).problem.code, 'summary_mismatch');

    daemon = await startDaemonProcess(home, env);
    client = await daemon.connect();
    try {
      assert.equal(await countBlocked(home, env), blockedBefore);
      assert.deepEqual(await client.request('stats', {}), statsBefore);
      assert.match(daemon.output(), /summary of .* does not match its MAC/);
    } finally {
      await client.dispose();
      await daemon.stop();
    }
  });

  test('a summary rewritten under a running daemon changes nothing and verify reports it', async () => {
    const home = await fresh('summary-live');
    const env = { ...ENV, AI_AUDIT_SEGMENT_MAX_BYTES: '2048' };
    const daemon = await startDaemonProcess(home, env);
    const client = await daemon.connect();
    try {
      for (let i = 0; i < 4; i++) await client.request('ingest', { events: Array.from({ length: 10 }, () => ({ kind: 'chat.input' as const, decision: 'blocked' as const })) });
      const before = (await client.request('query', { filter: { decision: 'blocked' }, limit: 1000 })).entries.length;
      const [first] = await segmentFiles(home);
      const file = join(home, (first ?? '').replace(/\.jsonl$/, '.summary.json'));
      const summary = JSON.parse(await readFile(file, 'utf8')) as { decisions: Record<string, number> };
      summary.decisions = { allowed: summary.decisions.blocked ?? 0 };
      await writeFile(file, JSON.stringify(summary));
      assert.equal((await client.request('query', { filter: { decision: 'blocked' }, limit: 1000 })).entries.length, before);
      const report = await client.request('verify', {});
      assert.equal(report.problem?.code, 'summary_mismatch');
    } finally {
      await client.dispose();
      await daemon.stop();
    }
  });
});

async function countBlocked(home: string, env: NodeJS.ProcessEnv): Promise<number> {
  const result = await runCliProcess(['query', '--home', home, '--decision', 'blocked', '--all'], { env });
  assert.equal(result.code, 0, result.stderr);
  return result.stdout.split('\n').filter((l) => l !== '').length;
}
