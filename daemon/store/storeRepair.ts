import { copyFile, mkdir, open, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { GENESIS_HASH, type Entry } from '../protocol/entry.ts';
import type { KeyMaterial } from '../keys/keyMaterial.ts';
import { appendCheckpoint, checkCheckpointChain, checkpointLink, readCheckpoints, repairCheckpointsTail, signCheckpoint, type Checkpoint } from './checkpoints.ts';
import { entryHash } from './entryHash.ts';
import { listSegments, summaryFileOf } from './segmentPaths.ts';
import { readLinesForward } from './segmentReader.ts';
import { fsyncDir, hasCompleteLine, writeFileDurable } from './segmentStore.ts';

/** Where `ai-audit repair` keeps the bytes it takes out of the chain, one folder per run. */
export const DAMAGED_DIR = 'damaged';

export interface RepairResult {
  /** False when nothing needed repair. */
  repaired: boolean;
  /** The last entry kept. */
  kept_through_seq: number;
  /** The newest signed seq; entries after `kept_through_seq` up to it are lost (their bytes kept aside). */
  signed_seq: number;
  /** Folder (relative to the data dir) holding the bytes set aside, and what was done. */
  set_aside: string | null;
  /** Bytes set aside. */
  bytes_set_aside: number;
  /** The signed `repair` record written into checkpoints.jsonl. */
  record: Checkpoint | null;
  message: string;
}

export class RepairRefused extends Error {
  override readonly name = 'RepairRefused';
}

interface Good {
  seq: number;
  hash: string;
  /** Index in the segment list and byte offset just after the entry's line. */
  segmentIndex: number;
  end: number;
}

/**
 * Mends the end of the entry chain after damage (a segment truncated inside the signed range, a torn or
 * unreadable line, entries that no longer verify): the bytes from the first entry that does not verify to
 * the end are copied into `damaged/<time>/`, cut off, and a signed `repair` record is appended to
 * checkpoints.jsonl saying which entries were lost; when signed entries were lost the chain goes on from
 * the signed hash of the newest signed entry, so no signed seq is ever reused. Runs with the daemon
 * stopped (the caller holds the instance lock). Only the newest segment holding entries (and any files
 * after it) is mended: damage further back needs a backup.
 */
export async function repairStore(home: string, keys: KeyMaterial, now: () => number = Date.now): Promise<RepairResult> {
  await repairCheckpointsTail(home, () => undefined);
  const file = await readCheckpoints(home);
  const chainProblem = checkCheckpointChain(file, keys.signingPublicKeys);
  if (chainProblem !== null) {
    throw new RepairRefused(`checkpoints.jsonl is damaged (${chainProblem.reason}): restore it from a backup; repair mends only the end of the entry chain`);
  }
  const checkpoints = file.checkpoints;
  const expected = new Map(checkpoints.map((c) => [c.seq, c]));
  const newestSigned = checkpoints.reduce<Checkpoint | null>((a, c) => (a === null || c.seq > a.seq ? c : a), null);
  const lastAnchor = checkpoints.filter((c) => c.type === 'anchor').at(-1) ?? null;
  const repairs = new Map<number, Checkpoint>();
  for (const c of checkpoints) if (c.type === 'repair' && c.lost_after !== undefined) repairs.set(c.lost_after, c);

  const segments = await listSegments(home);
  let good: Good | null = null;
  let cut: { segmentIndex: number; offset: number } | null = null;
  outer: for (const [segmentIndex, { file: segmentFile }] of segments.entries()) {
    let torn = -1;
    for await (const line of readLinesForward(join(home, segmentFile), 0, Number.POSITIVE_INFINITY, (offset) => (torn = offset))) {
      let entry: Entry | null;
      try {
        entry = JSON.parse(line.text) as Entry;
      } catch {
        entry = null;
      }
      if (entry === null || typeof entry.seq !== 'number' || !follows(entry, good, lastAnchor, repairs) || entryHash(entry) !== entry.hash) {
        cut = { segmentIndex, offset: line.offset };
        break outer;
      }
      const signed = expected.get(entry.seq);
      if (signed !== undefined && signed.hash !== entry.hash) {
        cut = { segmentIndex, offset: line.offset };
        break outer;
      }
      good = { seq: entry.seq, hash: entry.hash, segmentIndex, end: line.offset + line.bytes };
    }
    if (torn >= 0) {
      cut = { segmentIndex, offset: torn };
      break;
    }
  }
  if (cut === null && segments.length > 0) {
    // Everything parses and links; what may be left is a clean cut before the newest signature.
    const g = good as Good | null;
    const lastFile = segments.length - 1;
    cut = g === null ? { segmentIndex: 0, offset: 0 } : { segmentIndex: lastFile, offset: g.segmentIndex === lastFile ? g.end : 0 };
    if (g !== null && g.segmentIndex !== lastFile) cut = { segmentIndex: g.segmentIndex + 1, offset: 0 };
  }
  const g = good as Good | null;
  const keptSeq = g?.seq ?? lastAnchor?.seq ?? 0;
  const keptHash = g?.hash ?? lastAnchor?.hash ?? GENESIS_HASH;
  const signedSeq = newestSigned?.seq ?? 0;
  const bridge = repairs.get(keptSeq);
  const alreadyBridged = bridge !== undefined && bridge.seq >= signedSeq;
  const bytesAfterCut = cut === null ? 0 : await bytesFrom(home, segments.map((s) => s.file), cut);
  if (bytesAfterCut === 0 && (keptSeq >= signedSeq || alreadyBridged)) {
    return { repaired: false, kept_through_seq: keptSeq, signed_seq: signedSeq, set_aside: null, bytes_set_aside: 0, record: null, message: 'nothing to repair: the end of the chain verifies' };
  }
  const later = cut === null ? [] : segments.slice(cut.segmentIndex + 1);
  const laterEntries = await Promise.all(later.map((s) => hasCompleteLine(join(home, s.file))));
  if (laterEntries.includes(true)) {
    throw new RepairRefused(
      `the chain breaks in ${segments[cut?.segmentIndex ?? 0]?.file ?? '?'}, before the newest segment: repair mends only the end of the chain; restore the store from a backup`,
    );
  }

  const stamp = new Date(now()).toISOString().replace(/[:.]/g, '-');
  const aside = join(DAMAGED_DIR, stamp);
  await mkdir(join(home, aside), { recursive: true, mode: 0o700 });
  const moved: Array<{ file: string; from_byte: number; bytes: number; kept_as: string }> = [];
  if (cut !== null) {
    for (let i = cut.segmentIndex; i < segments.length; i++) {
      const location = segments[i];
      if (location === undefined) continue;
      const path = join(home, location.file);
      const size = (await stat(path)).size;
      const from = i === cut.segmentIndex ? cut.offset : 0;
      const keptAs = join(aside, `${basename(location.file)}${from > 0 ? `.from-${from}` : ''}`);
      if (size > from) {
        if (from === 0) await copyFile(path, join(home, keptAs));
        else await copyRange(path, join(home, keptAs), from, size);
        moved.push({ file: location.file, from_byte: from, bytes: size - from, kept_as: keptAs });
      }
      await rm(join(home, summaryFileOf(location.file)), { force: true });
      if (from === 0) await rm(path, { force: true });
      else await truncateDurable(path, from);
      await fsyncDir(dirname(path));
    }
  }
  const lost = signedSeq > keptSeq && !alreadyBridged;
  const body = {
    type: 'repair' as const,
    seq: lost ? signedSeq : keptSeq,
    hash: lost ? (newestSigned?.hash ?? keptHash) : keptHash,
    lost_after: keptSeq,
    ts: new Date(now()).toISOString(),
    key_id: keys.signing.id,
    n: checkpoints.length + 1,
    prev: checkpointLink(checkpoints.at(-1) ?? null),
  };
  const record = signCheckpoint(body, keys.signing.privateKey);
  await appendCheckpoint(home, record);
  const bytes = moved.reduce((n, m) => n + m.bytes, 0);
  const message =
    `kept the chain through seq ${keptSeq}; set aside ${bytes} bytes in ${aside}/` +
    (lost ? `; entries ${keptSeq + 1}..${signedSeq} were signed and are lost (the chain goes on from the signed hash of seq ${signedSeq})` : '');
  await writeFileDurable(
    join(home, aside, 'repair.json'),
    JSON.stringify({ repaired_at: body.ts, kept_through_seq: keptSeq, signed_seq: signedSeq, lost_signed_entries: lost ? signedSeq - keptSeq : 0, moved, record, message }, null, 2) + '\n',
  );
  return { repaired: true, kept_through_seq: keptSeq, signed_seq: signedSeq, set_aside: aside, bytes_set_aside: bytes, record, message };
}

function follows(entry: Entry, good: Good | null, lastAnchor: Checkpoint | null, repairs: ReadonlyMap<number, Checkpoint>): boolean {
  if (good === null) {
    if (entry.seq === 1) return entry.prev === GENESIS_HASH;
    if (lastAnchor === null) return false;
    if (entry.seq === lastAnchor.seq + 1) return entry.prev === lastAnchor.hash;
    // Segments a retention job killed after its anchor had no time to delete: they lead up to the anchor,
    // whose signed hash their last entry must have (checked with the other signed records), as verify has it.
    return entry.seq <= lastAnchor.seq;
  }
  const bridge = repairs.get(good.seq);
  if (bridge !== undefined && bridge.seq > good.seq && entry.seq === bridge.seq + 1) return entry.prev === bridge.hash;
  return entry.seq === good.seq + 1 && entry.prev === good.hash;
}

async function bytesFrom(home: string, files: readonly string[], cut: { segmentIndex: number; offset: number }): Promise<number> {
  let total = 0;
  for (let i = cut.segmentIndex; i < files.length; i++) {
    const size = (await stat(join(home, files[i] ?? ''))).size;
    total += Math.max(0, size - (i === cut.segmentIndex ? cut.offset : 0));
  }
  return total;
}

async function copyRange(from: string, to: string, start: number, end: number): Promise<void> {
  const source = await open(from, 'r');
  try {
    const bytes = Buffer.alloc(end - start);
    await source.read(bytes, 0, bytes.length, start);
    await writeFileDurable(to, bytes);
  } finally {
    await source.close();
  }
}

async function truncateDurable(path: string, size: number): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    await handle.truncate(size);
    await handle.datasync();
  } finally {
    await handle.close();
  }
}
