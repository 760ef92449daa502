import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, truncate, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import type { KeyMaterial } from '../../../daemon/keys/keyMaterial.ts';
import type { VerifyReport } from '../../../daemon/protocol/messages.ts';
import { AuditStore } from '../../../daemon/store/auditStore.ts';
import { CHECKPOINTS_FILE, readCheckpoints } from '../../../daemon/store/checkpoints.ts';
import { verifyStore, type VerifyOptions } from '../../../daemon/store/chainVerifier.ts';
import { listSegments, summaryFileOf } from '../../../daemon/store/segmentPaths.ts';
import type { SegmentWalk } from '../../../daemon/store/segmentWalk.ts';
import { liveVerifyWorkers } from '../../../daemon/store/verifyWorkerPool.ts';
import { tempDir } from '../../support/tempDir.ts';
import { testKeys } from '../../support/testKeys.ts';

const START = Date.parse('2026-11-20T10:00:00.000Z');

/** A line with its hash computed again over its own bytes, as a forger would. */
function rehashed(text: string): string {
  const member = /,"hash":"[0-9a-f]{64}"/.exec(text)?.[0] ?? '';
  const digest = createHash('sha256').update(text.replace(member, '')).digest('hex');
  return text.replace(/"hash":"[0-9a-f]{64}"/, `"hash":"${digest}"`);
}

describe('verify on worker threads reports what the walk on one thread reports', () => {
  let home: { path: string; dispose(): Promise<void> };
  let keys: KeyMaterial;
  let files: string[];

  // Small segments (a few entries each), a signed checkpoint every 7 entries, 5 s between entries: every
  // attack below lands in a segment a second worker walks, or at the seam between two workers' segments.
  beforeEach(async () => {
    home = await tempDir('verify-workers');
    keys = testKeys();
    let clock = START;
    const store = await AuditStore.open({ home: home.path, keys, contentMode: () => 'hash', log: () => undefined, now: () => clock, segmentMaxBytes: 1500, checkpointEveryEntries: 7 });
    for (let i = 1; i <= 60; i++) {
      clock = START + i * 5000;
      await store.ingest([{ kind: 'chat.input', input: `prompt ${i}`, decision: i % 4 === 0 ? 'blocked' : 'allowed', metadata: { n: i } }]);
    }
    await store.close();
    files = (await listSegments(home.path)).map((s) => join(home.path, s.file));
    assert.ok(files.length >= 8, `${files.length} segments`);
  });
  afterEach(() => home.dispose());

  /** Verifies on 2 worker threads, on this thread, and parsing every line: all three must agree. */
  const all = async (extra: Partial<VerifyOptions> = {}): Promise<{ report: VerifyReport; doubts: string[] }> => {
    const options: VerifyOptions = { publicKeys: keys.signingPublicKeys, summaryKeys: keys.hmacKeys, ...extra };
    const doubts: string[] = [];
    const inWorkers = await verifyStore(home.path, { ...options, workers: 2, onDoubt: (reason) => doubts.push(reason) });
    const alone = await verifyStore(home.path, { ...options, workers: 0 });
    const parsed = await verifyStore(home.path, { ...options, parseEveryLine: true });
    assert.deepEqual(inWorkers, alone);
    assert.deepEqual(inWorkers, parsed);
    return { report: inWorkers, doubts };
  };
  const linesOf = async (file: number): Promise<string[]> => (await readFile(files[file] ?? '', 'utf8')).split('\n').filter((l) => l !== '');
  const writeLines = (file: number, lines: string[]) => writeFile(files[file] ?? '', lines.map((l) => `${l}\n`).join(''));
  const seqOf = (line: string | undefined): number => Number(/"seq":(\d+)/.exec(line ?? '')?.[1]);

  test('an untouched store is proven by the workers alone, with the same report', async () => {
    const { report, doubts } = await all();
    assert.equal(report.ok, true);
    assert.equal(report.entries_checked, 60);
    assert.equal(report.segments_checked, files.length);
    assert.deepEqual(doubts, []);
  });

  test('verifies run at once share at most 4 worker threads in the process, and each reports what one thread reports', async () => {
    // A client may have 16 requests running per connection; each verify asking for 2 workers would otherwise
    // start its own (each thread a V8 heap of its own).
    const options: VerifyOptions = { publicKeys: keys.signingPublicKeys, summaryKeys: keys.hmacKeys };
    const alone = await verifyStore(home.path, { ...options, workers: 0 });
    let peak = 0;
    let running = true;
    const sampling = (async () => {
      while (running) {
        peak = Math.max(peak, liveVerifyWorkers());
        await sleep(1);
      }
    })();
    const reports = await Promise.all(Array.from({ length: 8 }, () => verifyStore(home.path, { ...options, workers: 2 })));
    running = false;
    await sampling;
    peak = Math.max(peak, liveVerifyWorkers());
    for (const report of reports) assert.deepEqual(report, alone);
    assert.ok(peak > 0, 'workers ran');
    assert.ok(peak <= 4, `${peak} verify workers at once`);
  });

  test('an edited line in a late segment (the second worker\'s share)', async () => {
    const lines = await linesOf(5);
    const seq = seqOf(lines[1]);
    lines[1] = (lines[1] ?? '').replace(`"n":${seq}`, `"n":${seq + 1000}`);
    await writeLines(5, lines);
    const { report, doubts } = await all();
    assert.equal(report.problem?.code, 'hash_mismatch');
    assert.equal(report.problem?.seq, seq);
    assert.equal(doubts.length, 1);
  });

  test('the first line of a segment removed: a gap at the seam', async () => {
    const lines = await linesOf(4);
    const seq = seqOf(lines[0]);
    await writeLines(4, lines.slice(1));
    const { report, doubts } = await all();
    assert.equal(report.problem?.code, 'seq_gap');
    assert.equal(report.problem?.seq, seq);
    assert.match(doubts[0] ?? '', /between segments|summary/);
  });

  test('the last line of a segment removed: a gap at the seam (its summary names it first)', async () => {
    const lines = await linesOf(3);
    await writeLines(3, lines.slice(0, -1));
    const { report } = await all();
    assert.equal(report.problem?.code, 'summary_mismatch');
    assert.match(report.problem?.segment ?? '', /\.summary\.json$|summary/);
  });

  test('the last line of the segment before the open one removed, its summary too', async () => {
    const target = files.length - 2;
    const lines = await linesOf(target);
    const seq = seqOf(lines.at(-1));
    await writeLines(target, lines.slice(0, -1));
    await unlink(summaryFileOf(files[target] ?? ''));
    const { report } = await all();
    assert.equal(report.problem?.code, 'seq_gap');
    assert.equal(report.problem?.seq, seq);
  });

  test('a segment\'s first line pointing elsewhere, its hash recomputed: prev breaks at the seam', async () => {
    const lines = await linesOf(6);
    lines[0] = rehashed((lines[0] ?? '').replace(/"prev":"[0-9a-f]{64}"/, `"prev":"${'a'.repeat(64)}"`));
    await writeLines(6, lines);
    const { report, doubts } = await all();
    assert.equal(report.problem?.code, 'prev_mismatch');
    assert.equal(report.problem?.seq, seqOf(lines[0]));
    assert.equal(doubts.length, 1);
  });

  test('a whole segment chained again from another prev (no signed entry in it, its summary removed): only the seams show it', async () => {
    const signed = new Set((await readFile(join(home.path, CHECKPOINTS_FILE), 'utf8')).split('\n').filter((l) => l !== '').map((l) => (JSON.parse(l) as { seq: number }).seq));
    let target = -1;
    for (let i = 1; i < files.length - 1 && target < 0; i++) if (!(await linesOf(i)).some((l) => signed.has(seqOf(l)))) target = i;
    assert.ok(target > 0, 'no segment without a signed entry');
    const lines = await linesOf(target);
    let prev = 'a'.repeat(64);
    for (let i = 0; i < lines.length; i++) {
      lines[i] = rehashed((lines[i] ?? '').replace(/"prev":"[0-9a-f]{64}"/, `"prev":"${prev}"`));
      prev = /"hash":"([0-9a-f]{64})"/.exec(lines[i] ?? '')?.[1] ?? '';
    }
    await writeLines(target, lines);
    await unlink(summaryFileOf(files[target] ?? ''));
    const { report, doubts } = await all();
    assert.equal(report.problem?.code, 'prev_mismatch');
    assert.equal(report.problem?.seq, seqOf(lines[0]));
    assert.match(doubts[0] ?? '', /between segments/);
  });

  test('two segments swapped', async () => {
    const a = await readFile(files[2] ?? '');
    await writeFile(files[2] ?? '', await readFile(files[3] ?? ''));
    await writeFile(files[3] ?? '', a);
    const { report } = await all();
    assert.equal(report.ok, false);
    assert.equal(report.problem?.code, 'seq_gap');
  });

  test('a middle segment deleted', async () => {
    await unlink(files[4] ?? '');
    await unlink(summaryFileOf(files[4] ?? '')).catch(() => undefined);
    const { report } = await all();
    assert.equal(report.problem?.code, 'seq_gap');
  });

  test('a torn line in a middle segment', async () => {
    await truncate(files[3] ?? '', (await readFile(files[3] ?? '')).length - 5);
    const { report } = await all();
    assert.equal(report.problem?.code, 'torn_tail');
  });

  test('a closed segment\'s summary edited', async () => {
    const path = summaryFileOf(files[5] ?? '');
    const text = await readFile(path, 'utf8');
    await writeFile(path, text.replace(/"count":(\d+)/, (_m, n: string) => `"count":${Number(n) + 1}`));
    const { report, doubts } = await all();
    assert.equal(report.problem?.code, 'summary_mismatch');
    assert.match(doubts[0] ?? '', /summary/);
  });

  test('the newest signed records cut off: an unsigned run over several segments is too long', async () => {
    const path = join(home.path, CHECKPOINTS_FILE);
    const records = (await readFile(path, 'utf8')).split('\n').filter((l) => l !== '');
    await writeFile(path, records.slice(0, -3).map((l) => `${l}\n`).join(''));
    const { report, doubts } = await all();
    assert.equal(report.problem?.code, 'checkpoint_missing');
    assert.match(doubts[0] ?? '', /unsigned run/);
  });

  test('the newest line, in the unsigned tail, in another form, its hash recomputed', async () => {
    // The last signed record cut off: its 7 entries (over two or more segments) are vouched for by no signature.
    const path = join(home.path, CHECKPOINTS_FILE);
    const records = (await readFile(path, 'utf8')).split('\n').filter((l) => l !== '');
    await writeFile(path, records.slice(0, -1).map((l) => `${l}\n`).join(''));
    const target = files.length - 1;
    const lines = await linesOf(target);
    const index = lines.length - 1;
    const seq = seqOf(lines[index]);
    // 54.0 reads as 54: the same entry, in bytes the daemon never writes.
    lines[index] = rehashed((lines[index] ?? '').replace(`"n":${seq}`, `"n":${seq}.0`));
    await writeLines(target, lines);
    const { report, doubts } = await all();
    assert.equal(report.problem?.code, 'hash_mismatch');
    assert.equal(report.problem?.seq, seqOf(lines[index]));
    assert.match(doubts[0] ?? '', /unsigned tail/);
  });

  test('the signed records checked while the workers walk: a broken signature or a removed record comes first, whatever the walk finds', async () => {
    const path = join(home.path, CHECKPOINTS_FILE);
    const records = (await readFile(path, 'utf8')).split('\n').filter((l) => l !== '');
    assert.ok(records.length >= 4);
    // The lines untouched (the workers' walk passes): the signature's problem is reported.
    const forged = records.map((r, i) => (i === 2 ? r.replace(/"sig":"(.)/, (_m, c: string) => `"sig":"${c === 'A' ? 'B' : 'A'}`) : r));
    await writeFile(path, forged.map((r) => `${r}\n`).join(''));
    const signature = await all();
    assert.equal(signature.report.problem?.code, 'checkpoint_signature');
    assert.equal(signature.report.problem?.segment, 'checkpoints.jsonl');
    // A line edited too: the records' problem is still the one reported, as when they were checked first.
    const lines = await linesOf(5);
    lines[1] = (lines[1] ?? '').replace('"n":', '"n":1');
    await writeLines(5, lines);
    await writeFile(path, records.filter((_r, i) => i !== 1).map((r) => `${r}\n`).join(''));
    const chain = await all();
    assert.equal(chain.report.problem?.code, 'checkpoint_chain');
    assert.equal(liveVerifyWorkers(), 0);
  });

  test('records the caller already checked (the daemon\'s start) are not checked again, on workers or not', async () => {
    // No public key: checking a signature would fail, so a report without a problem shows none was checked.
    const checkedCheckpoints = await readCheckpoints(home.path);
    for (const workers of [2, 0]) {
      const report = await verifyStore(home.path, { publicKeys: new Map(), summaryKeys: keys.hmacKeys, checkedCheckpoints, workers });
      assert.equal(report.ok, true, JSON.stringify(report.problem));
      assert.equal(report.entries_checked, 60);
    }
    const unchecked = await verifyStore(home.path, { publicKeys: new Map(), summaryKeys: keys.hmacKeys, workers: 2 });
    assert.equal(unchecked.problem?.code, 'checkpoint_signature');
  });

  test('a witness\'s checkpoint: met, and rewritten', async () => {
    const ok = await all();
    const met = await all({ expect: { seq: 60, hash: ok.report.last_hash ?? '' } });
    assert.equal(met.report.ok, true);
    assert.deepEqual(met.doubts, []);
    const other = await all({ expect: { seq: 30, hash: ok.report.last_hash ?? '' } });
    assert.equal(other.report.problem?.code, 'expected_missing');
  });
});

describe('verify on worker threads: progress and cancellation', () => {
  let home: { path: string; dispose(): Promise<void> };
  let keys: KeyMaterial;
  const COUNT = 60_000;

  before(async () => {
    home = await tempDir('verify-workers-large');
    keys = testKeys();
    let clock = START;
    const store = await AuditStore.open({ home: home.path, keys, contentMode: () => 'hash', log: () => undefined, now: () => clock, segmentMaxBytes: 1024 * 1024 });
    for (let from = 0; from < COUNT; from += 1000) {
      clock += 1000;
      await store.ingest(Array.from({ length: 1000 }, (_, i) => ({ kind: 'chat.input' as const, input: `prompt ${from + i}` })));
    }
    await store.close();
    assert.ok((await listSegments(home.path)).length >= 4);
  });
  after(() => home.dispose());

  const progressOf = async (workers: number) => {
    const progress: Array<[number, number]> = [];
    const doubts: string[] = [];
    const report = await verifyStore(home.path, {
      publicKeys: keys.signingPublicKeys,
      summaryKeys: keys.hmacKeys,
      workers,
      onProgress: (n, seq) => progress.push([n, seq]),
      onDoubt: (reason) => doubts.push(reason),
    });
    return { report, progress, doubts };
  };

  test('the same progress notifications as on one thread', async () => {
    const inWorkers = await progressOf(2);
    const alone = await progressOf(0);
    assert.deepEqual(inWorkers.doubts, []);
    assert.equal(inWorkers.report.ok, true);
    assert.deepEqual(inWorkers.report, alone.report);
    assert.deepEqual(inWorkers.progress, [[50_000, 50_000]]);
    assert.deepEqual(inWorkers.progress, alone.progress);
  });

  test('an edited line past the first notification: notified once, then the same problem', async () => {
    const segments = await listSegments(home.path);
    const last = join(home.path, segments.at(-1)?.file ?? '');
    const lines = (await readFile(last, 'utf8')).split('\n');
    const index = lines.length - 100;
    const original = lines.join('\n');
    lines[index] = (lines[index] ?? '').replace(/"hash":"([0-9a-f]{63})[0-9a-f]"/, '"hash":"$1x"');
    await writeFile(last, lines.join('\n'));
    try {
      const inWorkers = await progressOf(2);
      const alone = await progressOf(0);
      assert.equal(inWorkers.report.problem?.code, 'hash_mismatch');
      assert.deepEqual(inWorkers.report, alone.report);
      assert.deepEqual(inWorkers.progress, alone.progress);
      assert.deepEqual(inWorkers.progress, [[50_000, 50_000]]);
    } finally {
      await writeFile(last, original);
    }
  });

  const untilWorkersRun = async () => {
    for (let i = 0; i < 10_000 && liveVerifyWorkers() === 0; i++) await sleep(1);
    assert.ok(liveVerifyWorkers() > 0);
  };

  test('an aborted verify ends its worker threads and rejects with the reason', async () => {
    const controller = new AbortController();
    const verifying = verifyStore(home.path, { publicKeys: keys.signingPublicKeys, summaryKeys: keys.hmacKeys, workers: 2, signal: controller.signal });
    await untilWorkersRun();
    const reason = new Error('stop');
    controller.abort(reason);
    await assert.rejects(verifying, (error) => error === reason);
    assert.equal(liveVerifyWorkers(), 0);
  });

  test('closing the store (the daemon stopping) ends a running verify and its workers', async () => {
    const previous = process.env.AI_AUDIT_VERIFY_WORKERS;
    process.env.AI_AUDIT_VERIFY_WORKERS = '2';
    try {
      const store = await AuditStore.open({ home: home.path, keys, contentMode: () => 'hash', log: () => undefined });
      const verifying = store.verify({}).then(
        () => null,
        (error: unknown) => error as NodeJS.ErrnoException,
      );
      await untilWorkersRun();
      await store.close();
      assert.equal((await verifying)?.code, 'shutting_down');
      assert.equal(liveVerifyWorkers(), 0);
    } finally {
      if (previous === undefined) delete process.env.AI_AUDIT_VERIFY_WORKERS;
      else process.env.AI_AUDIT_VERIFY_WORKERS = previous;
    }
  });
});

describe('the bundled verify worker', () => {
  test('is in dist/cli-chunks (packaged with the chunks), named in the CLI, and walks a segment', async (t) => {
    const root = new URL('../../../', import.meta.url).pathname;
    if (!existsSync(join(root, 'dist/cli-main.cjs'))) return t.skip('not built');
    const name = (await readdir(join(root, 'dist/cli-chunks'))).find((f) => /^verify-worker-[A-Z0-9]+\.cjs$/.test(f));
    assert.ok(name !== undefined, 'no verify worker in dist/cli-chunks');
    assert.ok((await readFile(join(root, 'dist/cli-main.cjs'), 'utf8')).includes(JSON.stringify(name)));
    const home = await tempDir('verify-bundled-worker');
    try {
      const store = await AuditStore.open({ home: home.path, keys: testKeys(), contentMode: () => 'hash', log: () => undefined });
      await store.ingest([{ kind: 'chat.input', input: 'one' }, { kind: 'chat.input', input: 'two' }]);
      await store.close();
      const [segment] = await listSegments(home.path);
      const worker = new Worker(join(root, 'dist/cli-chunks', name), { workerData: { checkpointSeqs: [], checkpointHashes: [], expectSeq: null } });
      try {
        const result = await new Promise<SegmentWalk>((resolve, reject) => {
          worker.once('message', resolve);
          worker.once('error', reject);
          worker.postMessage({ index: 0, path: join(home.path, segment?.file ?? ''), segment: 1, file: segment?.file, forSummary: false });
        });
        assert.equal(result.doubt, null);
        assert.equal(result.count, 2);
        assert.equal(result.last_seq, 2);
      } finally {
        await worker.terminate();
      }
    } finally {
      await home.dispose();
    }
  });
});
