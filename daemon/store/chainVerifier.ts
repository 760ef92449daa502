import type { KeyObject } from 'node:crypto';
import { join } from 'node:path';
import { GENESIS_HASH, type Entry } from '../protocol/entry.ts';
import type { VerifyProblem, VerifyReport } from '../protocol/messages.ts';
import { checkpointSignatureValid, readCheckpoints, type Checkpoint } from './checkpoints.ts';
import { entryHash } from './entryHash.ts';
import { listSegments } from './segmentPaths.ts';
import { readLinesForward } from './segmentReader.ts';

export interface VerifyOptions {
  /** Public keys of the store's signing keys by key id; checkpoints signed by other keys fail. */
  publicKeys: ReadonlyMap<string, KeyObject>;
  fromSeq?: number;
  toSeq?: number;
  /** Called every few thousand entries. */
  onProgress?: (entriesChecked: number, lastSeq: number) => void;
  /** Bytes of each segment to read (the daemon passes its committed sizes; offline: the whole file). */
  committedBytes?: ReadonlyMap<number, number>;
}

const PROGRESS_EVERY = 50_000;

/**
 * Walks the whole chain (or a seq range) oldest first and checks, for every entry: it parses, its seq
 * follows the previous one, its `prev` is the previous entry's `hash`, and its `hash` is the SHA-256 of
 * its canonical serialization. Then every signed checkpoint: its signature, and that the entry it names
 * has the hash it names (which catches an edit with every later hash recomputed), and that it does not
 * name an entry beyond the end (which catches truncation). Retention anchors explain a missing start.
 * Stops at the first problem and names its seq, segment file and reason.
 */
export async function verifyStore(home: string, options: VerifyOptions): Promise<VerifyReport> {
  const report: VerifyReport = {
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
  const fail = (problem: VerifyProblem): VerifyReport => {
    report.ok = false;
    report.problem = problem;
    return report;
  };

  const { checkpoints, malformed } = await readCheckpoints(home);
  if (malformed.length > 0) {
    return fail({
      seq: null,
      segment: 'checkpoints.jsonl',
      code: 'checkpoint_signature',
      reason: `checkpoints.jsonl line ${malformed[0]} is not a checkpoint record`,
    });
  }
  for (const checkpoint of checkpoints) {
    const key = options.publicKeys.get(checkpoint.key_id);
    if (key === undefined || !checkpointSignatureValid(checkpoint, key)) {
      return fail({
        seq: checkpoint.seq,
        segment: 'checkpoints.jsonl',
        code: 'checkpoint_signature',
        reason:
          key === undefined
            ? `checkpoint for seq ${checkpoint.seq} is signed by unknown key ${checkpoint.key_id}`
            : `checkpoint for seq ${checkpoint.seq} has an invalid signature`,
      });
    }
    report.checkpoints_checked++;
  }
  // What each seq must hash to, by the checkpoints and anchors.
  const expected = new Map<number, Checkpoint>();
  for (const checkpoint of checkpoints) expected.set(checkpoint.seq, checkpoint);
  const anchors = checkpoints.filter((c) => c.type === 'anchor');
  const lastAnchor = anchors.reduce<Checkpoint | null>((a, c) => (a === null || c.seq > a.seq ? c : a), null);

  const segments = await listSegments(home);
  const fromSeq = options.fromSeq ?? 1;
  const toSeq = options.toSeq ?? Number.POSITIVE_INFINITY;
  let prevHash: string | null = null;
  let prevSeq: number | null = null;

  for (const { segment, file } of segments) {
    const end = options.committedBytes?.get(segment);
    let torn: { offset: number } | null = null;
    const lines = readLinesForward(join(home, file), 0, end, (offset) => {
      torn = { offset };
    });
    let segmentHadEntries = false;
    for await (const line of lines) {
      let entry: Entry;
      try {
        entry = JSON.parse(line.text) as Entry;
      } catch {
        return fail({
          seq: prevSeq === null ? null : prevSeq + 1,
          segment: file,
          code: 'unparseable',
          reason: `line at byte ${line.offset} is not valid JSON`,
        });
      }
      if (typeof entry !== 'object' || entry === null || typeof entry.seq !== 'number') {
        return fail({ seq: prevSeq === null ? null : prevSeq + 1, segment: file, code: 'unparseable', reason: `line at byte ${line.offset} is not an entry` });
      }
      segmentHadEntries = true;
      if (entry.seq < fromSeq) {
        prevSeq = entry.seq;
        prevHash = entry.hash;
        continue;
      }
      if (entry.seq > toSeq) break;
      if (prevSeq === null) {
        // The first entry we check: it must start the chain, follow a retention anchor, or start the range.
        if (entry.seq === 1) {
          if (entry.prev !== GENESIS_HASH) {
            return fail({ seq: 1, segment: file, code: 'prev_mismatch', reason: 'the first entry does not start from the genesis hash' });
          }
        } else if (lastAnchor !== null && entry.seq === lastAnchor.seq + 1) {
          if (entry.prev !== lastAnchor.hash) {
            return fail({ seq: entry.seq, segment: file, code: 'prev_mismatch', reason: `entry does not follow the retention anchor at seq ${lastAnchor.seq}` });
          }
        } else if (options.fromSeq === undefined && (lastAnchor === null || entry.seq > lastAnchor.seq + 1)) {
          return fail({
            seq: entry.seq,
            segment: file,
            code: 'missing_start',
            reason: `the store starts at seq ${entry.seq}; entries before it are missing and no retention anchor covers them`,
          });
        }
      } else {
        if (entry.seq !== prevSeq + 1) {
          return fail({
            seq: prevSeq + 1,
            segment: file,
            code: entry.seq > prevSeq ? 'seq_gap' : 'seq_order',
            reason:
              entry.seq > prevSeq
                ? `entries ${prevSeq + 1}..${entry.seq - 1} are missing (next present is ${entry.seq})`
                : `entry ${entry.seq} appears after entry ${prevSeq}`,
          });
        }
        if (entry.prev !== prevHash) {
          return fail({ seq: entry.seq, segment: file, code: 'prev_mismatch', reason: `prev does not match the hash of entry ${prevSeq}` });
        }
      }
      if (entryHash(entry) !== entry.hash) {
        return fail({ seq: entry.seq, segment: file, code: 'hash_mismatch', reason: 'the entry does not match its hash: it was edited' });
      }
      const checkpoint = expected.get(entry.seq);
      if (checkpoint !== undefined && checkpoint.hash !== entry.hash) {
        return fail({
          seq: entry.seq,
          segment: file,
          code: 'checkpoint_mismatch',
          reason: `the signed ${checkpoint.type} of ${checkpoint.ts} says entry ${entry.seq} had another hash: the chain was rewritten`,
        });
      }
      report.first_seq ??= entry.seq;
      report.entries_checked++;
      prevSeq = entry.seq;
      prevHash = entry.hash;
      report.last_seq = entry.seq;
      report.last_hash = entry.hash;
      if (report.entries_checked % PROGRESS_EVERY === 0) options.onProgress?.(report.entries_checked, entry.seq);
    }
    if (segmentHadEntries) report.segments_checked++;
    const tornAt = torn as { offset: number } | null;
    if (tornAt !== null) {
      return fail({
        seq: prevSeq === null ? null : prevSeq + 1,
        segment: file,
        code: 'torn_tail',
        reason: `an incomplete line at byte ${tornAt.offset} (a write cut short); the daemon repairs it on start`,
      });
    }
    if (prevSeq !== null && prevSeq >= toSeq) break;
  }

  const lastSeq = prevSeq ?? lastAnchor?.seq ?? 0;
  const beyond = checkpoints.filter((c) => c.seq > lastSeq).sort((a, b) => b.seq - a.seq)[0];
  if (beyond !== undefined && options.toSeq === undefined) {
    return fail({
      seq: lastSeq + 1,
      segment: null,
      code: 'checkpoint_beyond_end',
      reason: `the store ends at seq ${lastSeq} but a signed ${beyond.type} of ${beyond.ts} names seq ${beyond.seq}: entries were removed from the end`,
    });
  }
  const newestSigned = checkpoints.reduce((max, c) => Math.max(max, c.seq), 0);
  report.unsigned_tail = Math.max(0, lastSeq - newestSigned);
  return report;
}
