import type { KeyObject } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { GENESIS_HASH, type Entry } from '../protocol/entry.ts';
import type { VerifyProblem, VerifyReport } from '../protocol/messages.ts';
import { canonicalJson } from './canonicalJson.ts';
import { checkCheckpointChain, readCheckpoints, type Checkpoint, type CheckpointChainProblem, type CheckpointFile } from './checkpoints.ts';
import { entryHash, isCanonicalLine, storedLineHashMatches } from './entryHash.ts';
import { listSegments, summaryFileOf, type SegmentLocation } from './segmentPaths.ts';
import { readChunksForward } from './segmentReader.ts';
import { EntryLineView, type EntryLineFields } from './entryLineView.ts';
import { addToSummary, emptySummary, hasSummaryFields } from './segmentSummary.ts';
import { openSealedSummary } from './summarySeal.ts';
import type { SegmentTask } from './segmentWalk.ts';
import { verifyThreads, walkSegmentsInWorkers } from './verifyWorkerPool.ts';
import { MAX_UNSIGNED_ENTRIES, MAX_UNSIGNED_MS } from './verifyLimits.ts';

export interface VerifyOptions {
  /** Public keys of the store's signing keys by key id; checkpoints signed by other keys fail. */
  publicKeys: ReadonlyMap<string, KeyObject>;
  /** The store's HMAC keys by id: closed segments' summaries are checked with them (skipped without). */
  summaryKeys?: ReadonlyMap<string, Buffer>;
  fromSeq?: number;
  toSeq?: number;
  /** A checkpoint kept elsewhere (a witness): the store must hold entry `seq` with hash `hash`. */
  expect?: { seq: number; hash: string };
  /** Start reading at this segment number (the daemon's start-up check of the unsigned tail). */
  fromSegment?: number;
  /** … at this byte offset of it (a line start at or before `fromSeq`; ignored when summaries are checked). */
  fromOffset?: number;
  /** checkpoints.jsonl as already read and checked by the caller (the daemon's start): not read or checked again. */
  checkedCheckpoints?: CheckpointFile;
  /** Called every few thousand entries. */
  onProgress?: (entriesChecked: number, lastSeq: number) => void;
  /** Bytes of each segment to read (the daemon passes its committed sizes; offline: the whole file). */
  committedBytes?: ReadonlyMap<number, number>;
  /** Parse every line, as verify does once a problem is found (tests compare both ways of reading). */
  parseEveryLine?: boolean;
  /** The segments as the caller just listed them (the daemon's start, after its store opened): not listed again. */
  segments?: readonly SegmentLocation[];
  /** Worker threads to walk the segments on, whatever the store's size (tests); default: by size and CPUs (verifyWorkerPool.ts). */
  workers?: number;
  /** Ends the walk (and its worker threads): verify then rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Told why the worker threads' walk left a doubt, before the walks on this thread run (tests). */
  onDoubt?: (reason: string) => void;
  /** For tests: awaited before each segment is opened (see AuditStoreOptions.beforeSegmentRead). */
  beforeSegmentRead?: (segment: number) => Promise<void>;
}

const PROGRESS_EVERY = 50_000;

export { MAX_UNSIGNED_ENTRIES, MAX_UNSIGNED_MS };

/**
 * Walks the whole chain (or a seq range) oldest first and checks, for every entry: it parses, its seq
 * follows the previous one, its `prev` is the previous entry's `hash`, and its `hash` is the SHA-256 of
 * its canonical serialization. The signed records of checkpoints.jsonl: each signature, their own chain,
 * that the entry each names has the hash it names (which catches an edit with every later hash
 * recomputed), that none names an entry beyond the end (truncation), and that no run of unsigned entries
 * is longer than the daemon ever leaves one (removed signatures). Closed segments' summaries must match
 * their MAC and their segment. Stops at the first problem and names its seq, file and reason.
 */
export async function verifyStore(home: string, options: VerifyOptions): Promise<VerifyReport> {
  const file = options.checkedCheckpoints ?? (await readCheckpoints(home));
  // The records' signatures and chain come first in the report: nothing the walk finds counts before them.
  // Checked once, lazily: while the worker threads walk (below), this thread has nothing else to do.
  // (Records the caller already checked, as the daemon's start does, are not checked again.)
  let chainChecked = options.checkedCheckpoints !== undefined;
  let chainFound: CheckpointChainProblem | null = null;
  const chainProblem = (): CheckpointChainProblem | null => {
    if (!chainChecked) {
      chainChecked = true;
      chainFound = checkCheckpointChain(file, options.publicKeys);
    }
    return chainFound;
  };
  const chainReport = (problem: CheckpointChainProblem): VerifyReport => {
    const signature = /signature|unknown key|not a checkpoint record/.test(problem.reason);
    return {
      ...emptyReport(),
      ok: false,
      problem: { seq: problem.seq, segment: 'checkpoints.jsonl', code: signature ? 'checkpoint_signature' : 'checkpoint_chain', reason: problem.reason },
    };
  };
  // Lines are read by their bytes first. That walk makes every check, but proves a line only through its
  // hash: a store it passes holds only lines a signature or a full parse vouches for, so the exact walk
  // would pass it too, with the same report. Where it finds a problem, the exact walk (a JSON.parse per
  // line) finds the first one and reports it as verify always did.
  // A large store is read by worker threads first (the same by-bytes checks, segments in parallel); where
  // they leave any doubt, the walks below run as they would have, with no progress reported twice. The
  // workers start before the records are checked (they are given the signed seqs and hashes as read) and
  // their result counts only when the records pass: the same report as checking the records first.
  let reported = 0;
  let inWorkers: VerifyReport | null = null;
  if (options.parseEveryLine !== true) {
    try {
      inWorkers = await verifyInWorkers(home, options, file, chainProblem, (n) => {
        reported = n;
      });
    } catch (error: unknown) {
      const problem = chainProblem();
      if (problem !== null) return chainReport(problem);
      throw error;
    }
  }
  const problem = chainProblem();
  if (problem !== null) return chainReport(problem);
  if (options.parseEveryLine === true) return walkChain(home, options, file, false);
  if (inWorkers !== null) return inWorkers;
  const onProgress = options.onProgress;
  const once = onProgress === undefined ? options : { ...options, onProgress: (n: number, seq: number) => void (n > reported && onProgress(n, seq)) };
  const scanned = await walkChain(home, once, file, true);
  if (scanned.ok) return scanned;
  if (onProgress !== undefined) reported = Math.max(reported, scanned.entries_checked - (scanned.entries_checked % PROGRESS_EVERY));
  return walkChain(home, once, file, false);
}

function emptyReport(): VerifyReport {
  return {
    ok: true,
    entries_checked: 0,
    segments_checked: 0,
    checkpoints_checked: 0,
    first_seq: null,
    last_seq: null,
    last_hash: null,
    unsigned_tail: 0,
    problem: null,
  };
}

/** One walk over the chain; `byBytes` reads lines with {@link EntryLineView} where it can, else with JSON.parse. */
async function walkChain(home: string, options: VerifyOptions, file: CheckpointFile, byBytes: boolean): Promise<VerifyReport> {
  const report = emptyReport();
  const fail = (problem: VerifyProblem): VerifyReport => {
    report.ok = false;
    report.problem = problem;
    return report;
  };
  const chain = chainContext(file);
  const { checkpoints, expected, repairs } = chain;
  report.checkpoints_checked = checkpoints.length;

  const segments = options.segments ?? (await listSegments(home));
  const fromSeq = options.fromSeq ?? 1;
  const toSeq = options.toSeq ?? Number.POSITIVE_INFINITY;
  let prevHash: string | null = null;
  let prevSeq: number | null = null;
  // The run of entries not (yet) covered by a signed record: its first seq and recorded_at.
  let run: { seq: number; recordedMs: number } | null = null;
  let expectedFound: string | null = null;
  // recorded_at repeats within a batch: parsed once per value.
  let recordedText = '';
  let recordedMs = Number.NaN;
  const view = byBytes ? new EntryLineView() : null;
  // Checked entries no signed record vouches for yet (at most MAX_UNSIGNED_ENTRIES, by the rule below). A
  // line's hash covers its bytes; the signature of a later record, through the chain, binds those bytes to
  // what the daemon wrote, which is canonical. Lines no signature reaches are checked for canonical form.
  // Kept in parallel arrays, not an object per line: the buffer holding the line, where it starts and ends
  // in it, its seq, its segment, and its parse (null when it was read by its bytes: parsed here if need be).
  const unconfirmed = { data: [] as Buffer[], ranges: [] as number[], entries: [] as Array<Entry | null>, segments: [] as string[] };
  const clearUnconfirmed = (): void => {
    unconfirmed.data.length = 0;
    unconfirmed.ranges.length = 0;
    unconfirmed.entries.length = 0;
    unconfirmed.segments.length = 0;
  };
  const checkUnconfirmed = (): VerifyProblem | null => {
    for (let i = 0; i < unconfirmed.data.length; i++) {
      const raw = (unconfirmed.data[i] as Buffer).subarray(unconfirmed.ranges[i * 3], unconfirmed.ranges[i * 3 + 1]);
      const read = unconfirmed.entries[i] ?? null;
      const parsed = read ?? parseLine(raw);
      // A line read by its bytes had only the members verify reads checked; canonical is not enough where no
      // signature vouches for it: it must also be an entry, as the parsing walk requires (ts, kind, decision).
      if (parsed === null || (read === null && !hasSummaryFields(parsed)) || !isCanonicalLine(raw, parsed)) {
        const seq = unconfirmed.ranges[i * 3 + 2] ?? null;
        return { seq, segment: unconfirmed.segments[i] ?? null, code: 'hash_mismatch', reason: 'the line is not the canonical form of its entry: it was rewritten' };
      }
    }
    clearUnconfirmed();
    return null;
  };

  for (const [index, { segment, file: segmentFile }] of segments.entries()) {
    if (options.fromSegment !== undefined && segment < options.fromSegment) continue;
    const end = options.committedBytes?.get(segment);
    let torn: { offset: number } | null = null;
    const isClosed = index < segments.length - 1;
    const summary = isClosed && options.summaryKeys !== undefined ? emptySummary(segment, segmentFile) : null;
    let segmentHadEntries = false;
    let stoppedEarly = false;
    /** Checks the line `data[start, end)`; a problem, 'stop' past `toSeq`, or undefined to go on. */
    const visit = (data: Buffer, start: number, end: number, offset: number): VerifyProblem | 'stop' | undefined => {
      const bytes = end + 1 - start;
      let entry: EntryLineFields;
      let parsed: Entry | null = null;
      // Set when the line was read by its bytes; else the hash is checked on the parse, below.
      let hashMatches: boolean | null = null;
      let text = '';
      // Only lines in the range are proven by their hash; the others are parsed, as the exact walk does.
      if (view !== null && view.read(data, start, end, summary !== null) && view.fields.seq >= fromSeq && view.fields.seq <= toSeq) {
        entry = view.fields;
        hashMatches = view.hashMatches;
      } else {
        text = data.toString('utf8', start, end);
        try {
          parsed = JSON.parse(text) as Entry;
        } catch {
          return { seq: prevSeq === null ? null : prevSeq + 1, segment: segmentFile, code: 'unparseable', reason: `line at byte ${offset} is not valid JSON` };
        }
        if (!hasSummaryFields(parsed)) {
          return { seq: prevSeq === null ? null : prevSeq + 1, segment: segmentFile, code: 'unparseable', reason: `line at byte ${offset} is not an entry` };
        }
        entry = parsed;
      }
      segmentHadEntries = true;
      if (summary !== null) addToSummary(summary, entry, offset, bytes);
      if (entry.seq === options.expect?.seq) expectedFound = entry.hash;
      if (entry.seq < fromSeq) {
        prevSeq = entry.seq;
        prevHash = entry.hash;
        return undefined;
      }
      if (entry.seq > toSeq) return 'stop';
      if (prevSeq === null) {
        const problem = firstEntryProblem(entry, segmentFile, chain, options);
        if (problem !== null) return problem;
      } else {
        const repair = repairs.get(prevSeq);
        if (repair !== undefined && entry.seq === repair.seq + 1 && repair.seq > prevSeq) {
          // `ai-audit repair` set entries aside; the chain goes on from the signed hash of repair.seq.
          if (entry.prev !== repair.hash) {
            return { seq: entry.seq, segment: segmentFile, code: 'prev_mismatch', reason: `entry does not follow the repair record at seq ${repair.seq}` };
          }
          // No later signature reaches the entries before the lost ones through the chain.
          const problem = checkUnconfirmed();
          if (problem !== null) return problem;
          // The signed repair record ends the unsigned run that led up to the entries it set aside; what
          // follows it (written after the repair, maybe days later) starts a run of its own.
          run = null;
        } else {
          if (entry.seq !== prevSeq + 1) {
            return {
              seq: prevSeq + 1,
              segment: segmentFile,
              code: entry.seq > prevSeq ? 'seq_gap' : 'seq_order',
              reason:
                entry.seq > prevSeq
                  ? `entries ${prevSeq + 1}..${entry.seq - 1} are missing (next present is ${entry.seq})`
                  : `entry ${entry.seq} appears after entry ${prevSeq}`,
            };
          }
          if (entry.prev !== prevHash) {
            return { seq: entry.seq, segment: segmentFile, code: 'prev_mismatch', reason: `prev does not match the hash of entry ${prevSeq}` };
          }
        }
      }
      if (!(hashMatches ?? (parsed !== null && storedLineHashMatches(data.subarray(start, end), text, parsed)))) {
        return {
          seq: entry.seq,
          segment: segmentFile,
          code: 'hash_mismatch',
          reason: parsed !== null && entryHash(parsed) === parsed.hash ? 'the line is not the canonical form of its entry: it was rewritten' : 'the entry does not match its hash: it was edited',
        };
      }
      const checkpoint = expected.get(entry.seq);
      if (checkpoint !== undefined && checkpoint.hash !== entry.hash) {
        return {
          seq: entry.seq,
          segment: segmentFile,
          code: 'checkpoint_mismatch',
          reason: `the signed ${checkpoint.type} of ${checkpoint.ts} says entry ${entry.seq} had another hash: the chain was rewritten`,
        };
      }
      if (entry.recorded_at !== recordedText) {
        recordedText = entry.recorded_at;
        recordedMs = Date.parse(recordedText);
      }
      run ??= { seq: entry.seq, recordedMs };
      if (entry.seq - run.seq + 1 > MAX_UNSIGNED_ENTRIES || recordedMs - run.recordedMs > MAX_UNSIGNED_MS) {
        return {
          seq: entry.seq,
          segment: segmentFile,
          code: 'checkpoint_missing',
          reason:
            `entries ${run.seq}..${entry.seq} (recorded ${new Date(run.recordedMs).toISOString()} to ${entry.recorded_at}) carry no signed checkpoint, ` +
            `but the daemon signs at least every ${MAX_UNSIGNED_ENTRIES} entries and every ${MAX_UNSIGNED_MS / 1000} s: signed checkpoints were removed`,
        };
      }
      if (checkpoint !== undefined) {
        run = null;
        clearUnconfirmed();
      } else {
        unconfirmed.data.push(data);
        unconfirmed.ranges.push(start, end, entry.seq);
        unconfirmed.entries.push(parsed);
        unconfirmed.segments.push(segmentFile);
      }
      report.first_seq ??= entry.seq;
      report.entries_checked++;
      prevSeq = entry.seq;
      prevHash = entry.hash;
      report.last_seq = entry.seq;
      report.last_hash = entry.hash;
      if (report.entries_checked % PROGRESS_EVERY === 0) options.onProgress?.(report.entries_checked, entry.seq);
      return undefined;
    };
    const readFrom = summary === null && segment === options.fromSegment ? (options.fromOffset ?? 0) : 0;
    if (options.beforeSegmentRead !== undefined) await options.beforeSegmentRead(segment);
    const chunks = readChunksForward(join(home, segmentFile), readFrom, end, (offset) => {
      torn = { offset };
    });
    chunks: for await (const { data, offset } of chunks) {
      options.signal?.throwIfAborted();
      // Lines are checked synchronously within a chunk: no promise per line.
      let start = 0;
      for (let nl = data.indexOf(10); nl !== -1; nl = data.indexOf(10, start)) {
        const result = visit(data, start, nl, offset + start);
        start = nl + 1;
        if (result === 'stop') {
          stoppedEarly = true;
          break chunks;
        }
        if (result !== undefined) return fail(result);
      }
    }
    if (segmentHadEntries) report.segments_checked++;
    const tornAt = torn as { offset: number } | null;
    if (tornAt !== null && !stoppedEarly) {
      return fail({
        seq: prevSeq === null ? null : prevSeq + 1,
        segment: segmentFile,
        code: 'torn_tail',
        reason: `an incomplete line at byte ${tornAt.offset} (a write cut short); the daemon repairs it on start when nothing signed is lost`,
      });
    }
    if (summary !== null && !stoppedEarly && options.summaryKeys !== undefined) {
      const problem = await checkSummary(home, segmentFile, summary, options.summaryKeys);
      if (problem !== null) return fail({ seq: null, segment: summaryFileOf(segmentFile), code: 'summary_mismatch', reason: problem });
    }
    if (prevSeq !== null && prevSeq >= toSeq) break;
  }

  const unconfirmedProblem = checkUnconfirmed();
  if (unconfirmedProblem !== null) return fail(unconfirmedProblem);
  const endProblem = checkEnd(report, prevSeq, expectedFound, chain, options);
  return endProblem === null ? report : fail(endProblem);
}

/** The signed records of checkpoints.jsonl as the walks look them up. */
interface ChainContext {
  checkpoints: readonly Checkpoint[];
  /** What each seq must hash to, by the checkpoints and anchors. */
  expected: Map<number, Checkpoint>;
  lastAnchor: Checkpoint | null;
  /** Repair records by the last entry they kept (`lost_after`). */
  repairs: Map<number, Checkpoint>;
}

function chainContext(file: CheckpointFile): ChainContext {
  const { checkpoints } = file;
  const expected = new Map<number, Checkpoint>();
  for (const checkpoint of checkpoints) expected.set(checkpoint.seq, checkpoint);
  const anchors = checkpoints.filter((c) => c.type === 'anchor');
  const lastAnchor = anchors.reduce<Checkpoint | null>((a, c) => (a === null || c.seq > a.seq ? c : a), null);
  const repairs = new Map<number, Checkpoint>();
  for (const c of checkpoints) if (c.type === 'repair' && c.lost_after !== undefined) repairs.set(c.lost_after, c);
  return { checkpoints, expected, lastAnchor, repairs };
}

/** The first entry a walk checks: it must start the chain, follow a retention anchor, or start the range. */
function firstEntryProblem(entry: { seq: number; prev: string }, segmentFile: string, chain: ChainContext, options: VerifyOptions): VerifyProblem | null {
  const { lastAnchor, repairs } = chain;
  if (entry.seq === 1) {
    if (entry.prev !== GENESIS_HASH) {
      return { seq: 1, segment: segmentFile, code: 'prev_mismatch', reason: 'the first entry does not start from the genesis hash' };
    }
  } else if (lastAnchor !== null && entry.seq === lastAnchor.seq + 1) {
    if (entry.prev !== lastAnchor.hash) {
      return { seq: entry.seq, segment: segmentFile, code: 'prev_mismatch', reason: `entry does not follow the retention anchor at seq ${lastAnchor.seq}` };
    }
  } else if (lastAnchor !== null && repairs.get(lastAnchor.seq)?.seq === entry.seq - 1) {
    // Retention dropped everything up to the last entry a repair kept: the chain goes on from the
    // repair record's signed hash, as it would after that entry.
    const repair = repairs.get(lastAnchor.seq);
    if (entry.prev !== repair?.hash) {
      return { seq: entry.seq, segment: segmentFile, code: 'prev_mismatch', reason: `entry does not follow the repair record at seq ${entry.seq - 1}` };
    }
  } else if (options.fromSeq === undefined && options.fromSegment === undefined && (lastAnchor === null || entry.seq > lastAnchor.seq + 1)) {
    return {
      seq: entry.seq,
      segment: segmentFile,
      code: 'missing_start',
      reason: `the store starts at seq ${entry.seq}; entries before it are missing and no retention anchor covers them`,
    };
  }
  return null;
}

/** After the last entry: nothing signed beyond the end, the witness's entry, and the unsigned tail (set on `report`). */
function checkEnd(report: VerifyReport, prevSeq: number | null, expectedFound: string | null, chain: ChainContext, options: VerifyOptions): VerifyProblem | null {
  const { checkpoints, lastAnchor, repairs } = chain;
  let lastSeq = prevSeq ?? lastAnchor?.seq ?? 0;
  const bridge = repairs.get(lastSeq);
  if (bridge !== undefined && bridge.seq > lastSeq) lastSeq = bridge.seq;
  const beyond = checkpoints.filter((c) => c.seq > lastSeq).sort((a, b) => b.seq - a.seq)[0];
  if (beyond !== undefined && options.toSeq === undefined) {
    return {
      seq: lastSeq + 1,
      segment: null,
      code: 'checkpoint_beyond_end',
      reason: `the store ends at seq ${lastSeq} but a signed ${beyond.type} of ${beyond.ts} names seq ${beyond.seq}: entries were removed from the end`,
    };
  }
  if (options.expect !== undefined) {
    const problem = checkExpected(options.expect, expectedFound, lastSeq, lastAnchor);
    if (problem !== null) return problem;
  }
  const newestSigned = checkpoints.reduce((max, c) => Math.max(max, c.seq), 0);
  report.unsigned_tail = Math.max(0, lastSeq - newestSigned);
  return null;
}

/**
 * The whole chain walked by worker threads (verifyWorkerPool.ts, segmentWalk.ts): each checks its segments
 * by their bytes; this thread links them in order (first seq and prev, unsigned runs across segments, the
 * first entry, summaries with their keys, the canonical form of the unsigned tail, the end). Null where a
 * doubt remains (any problem, a line in another shape, a repair, a range): the caller's walks then decide.
 * Progress is reported as segments are linked; `progressed` learns the last count reported.
 */
async function verifyInWorkers(
  home: string,
  options: VerifyOptions,
  file: CheckpointFile,
  chainProblem: () => CheckpointChainProblem | null,
  progressed: (n: number) => void,
): Promise<VerifyReport | null> {
  // A hook before each segment is opened (tests of retention races) runs on this thread: so do those walks.
  if (options.fromSeq !== undefined || options.toSeq !== undefined || options.fromSegment !== undefined || options.beforeSegmentRead !== undefined) return null;
  const chain = chainContext(file);
  // Seqs jump over the entries a repair set aside: rare enough to be walked on this thread.
  if (chain.repairs.size > 0) return null;
  const segments = options.segments ?? (await listSegments(home));
  const sizes = await Promise.all(
    segments.map(async (s) => options.committedBytes?.get(s.segment) ?? (await stat(join(home, s.file)).then((st) => st.size, () => 0))),
  );
  const threads = verifyThreads(sizes.reduce((a, b) => a + b, 0), segments.length, options.workers);
  if (threads === 0) return null;
  const tasks = segments.map(({ segment, file: segmentFile }, index): SegmentTask => {
    const end = options.committedBytes?.get(segment);
    const forSummary = index < segments.length - 1 && options.summaryKeys !== undefined;
    return { index, path: join(home, segmentFile), segment, file: segmentFile, forSummary, ...(end === undefined ? {} : { end }) };
  });
  const checkpointHashes = new Map<number, string>();
  for (const [seq, checkpoint] of chain.expected) checkpointHashes.set(seq, checkpoint.hash);
  const context = { checkpoints: checkpointHashes, expectSeq: options.expect?.seq ?? null };

  const report = emptyReport();
  report.checkpoints_checked = chain.checkpoints.length;
  let prevSeq: number | null = null;
  let prevHash: string | null = null;
  let run: { seq: number; ms: number } | null = null;
  // Where the entries no signed record vouches for start (segment index, byte offset): checked for canonical form below.
  let unconfirmed: { index: number; offset: number } | null = null;
  let expectedFound: string | null = null;
  const doubt = (reason: string): null => {
    options.onDoubt?.(reason);
    return null;
  };
  // The records are checked on this thread once the workers are started (they walk meanwhile); a problem
  // there ends the walk: the caller reports it.
  let chainFailed = false;
  const whileStarting = (): void => {
    chainFailed = chainProblem() !== null;
  };
  for await (const walk of walkSegmentsInWorkers(tasks, context, threads, options.signal, whileStarting)) {
    if (chainFailed) return doubt('checkpoints.jsonl');
    if (walk.doubt !== null) return doubt(walk.doubt);
    const segmentFile = tasks[walk.index]?.file ?? '';
    if (walk.count > 0) {
      if (prevSeq === null) {
        if (firstEntryProblem({ seq: walk.first_seq, prev: walk.first_prev }, segmentFile, chain, options) !== null) return doubt('the first entry');
      } else if (walk.first_seq !== prevSeq + 1 || walk.first_prev !== prevHash) {
        return doubt(`a break between segments at ${segmentFile}`);
      }
      // The run leading into this segment, up to its first signed entry, is checked here (its later runs were, in the walk).
      const start: { seq: number; ms: number } = run ?? { seq: walk.first_seq, ms: walk.first_ms };
      if (walk.lead_last_seq - start.seq + 1 > MAX_UNSIGNED_ENTRIES || walk.lead_max_ms - start.ms > MAX_UNSIGNED_MS) return doubt(`a long unsigned run into ${segmentFile}`);
      if (walk.signed) {
        run = walk.tail === null ? null : { seq: walk.tail.seq, ms: walk.tail.ms };
        unconfirmed = walk.tail === null ? null : { index: walk.index, offset: walk.tail.offset };
      } else {
        run = start;
        unconfirmed ??= { index: walk.index, offset: 0 };
      }
      if (walk.expected_hash !== null) expectedFound = walk.expected_hash;
      const before = report.entries_checked;
      report.entries_checked += walk.count;
      if (options.onProgress !== undefined) {
        // Seqs are consecutive within a walked segment: the n-th entry checked is known without its line.
        for (let n = before - (before % PROGRESS_EVERY) + PROGRESS_EVERY; n <= report.entries_checked; n += PROGRESS_EVERY) {
          options.onProgress(n, walk.first_seq + (n - before) - 1);
          progressed(n);
        }
      }
      report.first_seq ??= walk.first_seq;
      prevSeq = walk.last_seq;
      prevHash = walk.last_hash;
      report.last_seq = prevSeq;
      report.last_hash = prevHash;
      report.segments_checked++;
    }
    if (walk.summary !== null && options.summaryKeys !== undefined && (await checkSummary(home, segmentFile, walk.summary, options.summaryKeys)) !== null) {
      return doubt(`the summary of ${segmentFile}`);
    }
  }
  if (unconfirmed !== null && !(await unconfirmedAreCanonical(tasks, unconfirmed, options.signal))) return doubt('a line of the unsigned tail');
  return checkEnd(report, prevSeq, expectedFound, chain, options) === null ? report : doubt('the end of the chain');
}

/** Whether every line from `from` to the end is an entry in its canonical form (the walk's check of the lines no signature reaches). */
async function unconfirmedAreCanonical(tasks: readonly SegmentTask[], from: { index: number; offset: number }, signal: AbortSignal | undefined): Promise<boolean> {
  for (const task of tasks.slice(from.index)) {
    for await (const { data } of readChunksForward(task.path, task.index === from.index ? from.offset : 0, task.end)) {
      signal?.throwIfAborted();
      let start = 0;
      for (let nl = data.indexOf(10); nl !== -1; nl = data.indexOf(10, start)) {
        const raw = data.subarray(start, nl);
        start = nl + 1;
        const parsed = parseLine(raw);
        if (parsed === null || !hasSummaryFields(parsed) || !isCanonicalLine(raw, parsed)) return false;
      }
    }
  }
  return true;
}

/** Compares a closed segment's sidecar (when there is one) with the summary rebuilt from its lines. */
async function checkSummary(home: string, segmentFile: string, rebuilt: ReturnType<typeof emptySummary>, keys: ReadonlyMap<string, Buffer>): Promise<string | null> {
  let text: string;
  try {
    text = await readFile(join(home, summaryFileOf(segmentFile)), 'utf8');
  } catch (error: unknown) {
    // A missing summary changes no result (it is rebuilt); only one that is there can mislead.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  const opened = openSealedSummary(text, keys);
  if ('problem' in opened) return `the summary of ${segmentFile} ${opened.problem}; the daemon does not use it and rebuilds it on start`;
  // Sidecars written before summaries listed notable entries are still valid: the query reads those segments whole.
  if (!('notable' in opened.summary)) delete rebuilt.notable;
  if (canonicalJson(opened.summary) !== canonicalJson(rebuilt)) {
    return `the summary of ${segmentFile} does not match its segment; the daemon rebuilds it on start`;
  }
  return null;
}

function checkExpected(
  expect: { seq: number; hash: string },
  found: string | null,
  lastSeq: number,
  lastAnchor: Checkpoint | null,
): VerifyProblem | null {
  const missing = (reason: string): VerifyProblem => ({ seq: expect.seq, segment: null, code: 'expected_missing', reason });
  if (expect.seq > lastSeq) {
    return missing(`the store ends at seq ${lastSeq}, but the checkpoint kept elsewhere names seq ${expect.seq}: entries were removed from the end`);
  }
  if (lastAnchor !== null && expect.seq <= lastAnchor.seq) {
    // Retention removed it; the signed anchor proves that the chain went past it.
    return lastAnchor.seq === expect.seq && lastAnchor.hash !== expect.hash ? missing(`the retention anchor at seq ${expect.seq} names another hash`) : null;
  }
  if (found === null) return missing(`the store holds no entry ${expect.seq}`);
  if (found !== expect.hash) {
    return missing(`entry ${expect.seq} has hash ${found}, not the ${expect.hash} kept elsewhere: the chain was rewritten`);
  }
  return null;
}

/** A line's parse for the canonical check, or null when it does not parse. */
function parseLine(raw: Buffer): Entry | null {
  try {
    return JSON.parse(raw.toString('utf8')) as Entry;
  } catch {
    return null;
  }
}
