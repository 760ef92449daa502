import { EntryLineView } from './entryLineView.ts';
import { MAX_UNSIGNED_ENTRIES, MAX_UNSIGNED_MS } from './verifyLimits.ts';
import { readChunksForwardSync } from './segmentReader.ts';
import { addToSummary, emptySummary, type SegmentSummary } from './segmentSummary.ts';

/** One segment for {@link walkSegment}: what a verify worker is sent (no key: summaries are checked by the caller). */
export interface SegmentTask {
  /** Position of the segment in the walk (results are joined in this order). */
  index: number;
  /** Absolute path of the segment file. */
  path: string;
  /** Global segment number and the file relative to the data dir, for the rebuilt summary. */
  segment: number;
  file: string;
  /** Bytes to read (the daemon's committed size), or undefined for the whole file. */
  end?: number;
  /** Rebuild the segment's summary (closed segments when the caller checks summaries). */
  forSummary: boolean;
}

/** What {@link walkSegment} found in one segment, for the caller to link with its neighbours in order. */
export interface SegmentWalk {
  index: number;
  /** Why the segment is not proven by its bytes alone (the caller then runs the single-threaded walk), or null. */
  doubt: string | null;
  count: number;
  first_seq: number;
  first_prev: string;
  last_seq: number;
  last_hash: string;
  first_ms: number;
  /** Entries up to and including the first one a signed record names (all, without one): the last seq and the newest `recorded_at` (ms, NaN ignored). */
  lead_last_seq: number;
  lead_max_ms: number;
  /** Whether a signed record names an entry of this segment. */
  signed: boolean;
  /** The run after the last entry a signed record names: its first seq, `recorded_at` (ms) and byte offset; null when the segment ends on one. */
  tail: { seq: number; ms: number; offset: number } | null;
  /** The hash of the entry the caller expects (a witness), when this segment holds it. */
  expected_hash: string | null;
  summary: SegmentSummary | null;
}

/** The signed records' seqs and hashes, and the seq a witness names, shared by every segment of one verify. */
export interface WalkContext {
  checkpoints: ReadonlyMap<number, string>;
  expectSeq: number | null;
}

/**
 * Reads one segment by its bytes ({@link EntryLineView}) and makes, within it, every check the chain walk of
 * chainVerifier.ts makes on a line: each line in the daemon's shape, seqs consecutive, `prev` the previous
 * line's hash, the hash of each line's bytes, the hash a signed record names for its entry, and the bound on
 * unsigned runs for the runs that start in this segment. What links it to the segments before it (first seq
 * and prev, the run that leads into it) is returned for the caller. Any other shape, a torn line or a failed
 * check is a doubt: this walk never names a problem, the caller's exact walk does.
 */
export async function walkSegment(task: SegmentTask, context: WalkContext, view = new EntryLineView(true), isCancelled: () => boolean = () => false): Promise<SegmentWalk> {
  const result: SegmentWalk = {
    index: task.index,
    doubt: null,
    count: 0,
    first_seq: 0,
    first_prev: '',
    last_seq: 0,
    last_hash: '',
    first_ms: Number.NaN,
    lead_last_seq: 0,
    lead_max_ms: Number.NEGATIVE_INFINITY,
    signed: false,
    tail: null,
    expected_hash: null,
    summary: task.forSummary ? emptySummary(task.segment, task.file) : null,
  };
  const doubt = (reason: string): SegmentWalk => {
    result.doubt = reason;
    result.summary = null;
    return result;
  };
  const { checkpoints, expectSeq } = context;
  const summary = result.summary;
  let torn = false;
  let prevHash = '';
  let lastSeq = 0;
  let recordedText = '';
  let recordedMs = Number.NaN;
  // The run that started in this segment (after an entry a signed record names): its first seq and time.
  let runSeq = 0;
  let runMs = Number.NaN;
  let inLead = true;
  let inRun = false;
  // Blocking reads: this runs on a worker thread with nothing else to do (segmentReader.ts). The view may
  // hash lines where they lie: the buffer is the reader's, reused for the next chunk.
  const chunks = readChunksForwardSync(task.path, 0, task.end, () => {
    torn = true;
  });
  for (const { data, offset } of chunks) {
    if (isCancelled()) return doubt('cancelled');
    let start = 0;
    for (let nl = data.indexOf(10); nl !== -1; nl = data.indexOf(10, start)) {
      const lineStart = start;
      start = nl + 1;
      if (!view.read(data, lineStart, nl, summary !== null)) return doubt('a line not in the shape the daemon writes');
      const entry = view.fields;
      const seq = entry.seq;
      if (seq < 1) return doubt('seq 0');
      if (result.count === 0) {
        result.first_seq = seq;
        result.first_prev = entry.prev;
      } else if (seq !== lastSeq + 1 || entry.prev !== prevHash) {
        return doubt('a break in the chain');
      }
      if (!view.hashMatches) return doubt('a hash mismatch');
      const signedHash = checkpoints.get(seq);
      if (signedHash !== undefined && signedHash !== entry.hash) return doubt('a signed record names another hash');
      if (seq === expectSeq) result.expected_hash = entry.hash;
      if (entry.recorded_at !== recordedText) {
        recordedText = entry.recorded_at;
        recordedMs = Date.parse(recordedText);
      }
      if (result.count === 0) result.first_ms = recordedMs;
      if (inLead) {
        // Checked by the caller against the run that leads into this segment.
        result.lead_last_seq = seq;
        if (recordedMs > result.lead_max_ms) result.lead_max_ms = recordedMs;
        if (signedHash !== undefined) inLead = false;
      } else {
        if (!inRun) {
          inRun = true;
          runSeq = seq;
          runMs = recordedMs;
          result.tail = { seq, ms: recordedMs, offset: offset + lineStart };
        }
        if (seq - runSeq + 1 > MAX_UNSIGNED_ENTRIES || recordedMs - runMs > MAX_UNSIGNED_MS) return doubt('a long unsigned run');
        if (signedHash !== undefined) inRun = false;
      }
      if (signedHash !== undefined) {
        result.signed = true;
        result.tail = null;
      }
      if (summary !== null) addToSummary(summary, entry, offset + lineStart, nl + 1 - lineStart);
      result.count++;
      lastSeq = seq;
      prevHash = entry.hash;
    }
  }
  if (torn) return doubt('a torn line');
  result.last_seq = lastSeq;
  result.last_hash = prevHash;
  return result;
}
