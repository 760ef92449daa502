import { createHash, sign, verify, type KeyObject } from 'node:crypto';
import { open, readFile, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { GENESIS_HASH } from '../protocol/entry.ts';
import type { SignedCheckpoint } from '../protocol/messages.ts';
import { canonicalJson } from './canonicalJson.ts';

export const CHECKPOINTS_FILE = 'checkpoints.jsonl';

/** A signed record of checkpoints.jsonl: the wire's {@link SignedCheckpoint}, documented there. */
export type Checkpoint = SignedCheckpoint;

export type UnsignedCheckpoint = Omit<Checkpoint, 'sig'>;

export function signCheckpoint(body: UnsignedCheckpoint, privateKey: KeyObject): Checkpoint {
  const sig = sign(null, Buffer.from(canonicalJson(body)), privateKey).toString('base64');
  return { ...body, sig };
}

export function checkpointSignatureValid(checkpoint: Checkpoint, publicKey: KeyObject): boolean {
  const { sig, ...body } = checkpoint;
  try {
    return verify(null, Buffer.from(canonicalJson(body)), publicKey, Buffer.from(sig, 'base64'));
  } catch {
    return false;
  }
}

/** The `prev` that the record after `checkpoint` carries. */
export function checkpointLink(checkpoint: Checkpoint | null): string {
  if (checkpoint === null) return GENESIS_HASH;
  return createHash('sha256').update(canonicalJson(checkpoint)).digest('hex');
}

/**
 * Appends a checkpoint and fsyncs it before returning. A failed write (a full disk) is cut back, so the
 * next record does not land on a partial line.
 */
export async function appendCheckpoint(home: string, checkpoint: Checkpoint): Promise<void> {
  const handle = await open(join(home, CHECKPOINTS_FILE), 'a', 0o600);
  try {
    const size = (await handle.stat()).size;
    try {
      await handle.appendFile(JSON.stringify(checkpoint) + '\n');
      await handle.datasync();
    } catch (error: unknown) {
      await handle.truncate(size).catch(() => undefined);
      throw error;
    }
  } finally {
    await handle.close();
  }
}

/** Cuts off a torn last record (a crash while appending; never acknowledged) so that the next one starts a line. */
export async function repairCheckpointsTail(home: string, log: (message: string) => void): Promise<void> {
  const path = join(home, CHECKPOINTS_FILE);
  let text: Buffer;
  try {
    text = await readFile(path);
  } catch (error: unknown) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  if (text.length === 0 || text[text.length - 1] === 10) return;
  const keep = text.lastIndexOf(10) + 1;
  await truncate(path, keep);
  log(`cut off an incomplete last record of ${CHECKPOINTS_FILE} (${text.length - keep} bytes)`);
}

export interface CheckpointFile {
  checkpoints: Checkpoint[];
  /** Line numbers (1-based) that are not checkpoints: reported by verify. */
  malformed: number[];
}

function isCheckpoint(value: unknown): value is Checkpoint {
  if (typeof value !== 'object' || value === null) return false;
  const c = value as Record<string, unknown>;
  return (
    (c.type === 'checkpoint' || c.type === 'anchor' || c.type === 'repair') &&
    typeof c.seq === 'number' &&
    typeof c.hash === 'string' &&
    typeof c.ts === 'string' &&
    typeof c.key_id === 'string' &&
    typeof c.sig === 'string' &&
    (c.n === undefined || typeof c.n === 'number') &&
    (c.prev === undefined || typeof c.prev === 'string') &&
    (c.lost_after === undefined || typeof c.lost_after === 'number')
  );
}

export async function readCheckpoints(home: string): Promise<CheckpointFile> {
  let text: string;
  try {
    text = await readFile(join(home, CHECKPOINTS_FILE), 'utf8');
  } catch (error: unknown) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { checkpoints: [], malformed: [] };
    throw error;
  }
  const checkpoints: Checkpoint[] = [];
  const malformed: number[] = [];
  const lines = text.split('\n');
  lines.forEach((line, index) => {
    if (line === '') return;
    try {
      const value: unknown = JSON.parse(line);
      if (isCheckpoint(value)) checkpoints.push(value);
      else malformed.push(index + 1);
    } catch {
      // A torn last line (crash while appending) is not tampering; anything earlier is.
      if (index !== lines.length - 1) malformed.push(index + 1);
    }
  });
  return { checkpoints, malformed };
}

export interface CheckpointChainProblem {
  /** 1-based record number in the file. */
  record: number;
  seq: number | null;
  reason: string;
}

/**
 * Checks every record's signature and the chain of records: record i (1-based) has `n` = i and `prev` =
 * the link of record i − 1. Records written before chaining (no `n`) are accepted only before the first
 * chained one. Returns the first problem, or null.
 *
 * With `signatures: 'unlinked'` (the daemon's start), a record's signature is checked only when no later
 * record links to it (the newest, and unchained ones): every link is still checked, and a link is the
 * SHA-256 of the whole previous record, signature included, inside the next record's signed body, so the
 * newest valid signature vouches for every record before it. `ai-audit verify` checks them all.
 */
export function checkCheckpointChain(
  file: CheckpointFile,
  publicKeys: ReadonlyMap<string, KeyObject>,
  options: { signatures?: 'all' | 'unlinked' } = {},
): CheckpointChainProblem | null {
  if (file.malformed.length > 0) {
    return { record: file.malformed[0] ?? 0, seq: null, reason: `checkpoints.jsonl line ${file.malformed[0]} is not a checkpoint record` };
  }
  let previous: Checkpoint | null = null;
  let chained = false;
  for (const [index, checkpoint] of file.checkpoints.entries()) {
    const record = index + 1;
    const key = publicKeys.get(checkpoint.key_id);
    if (key === undefined) {
      return { record, seq: checkpoint.seq, reason: `checkpoint for seq ${checkpoint.seq} is signed by unknown key ${checkpoint.key_id}` };
    }
    const linked = options.signatures === 'unlinked' && file.checkpoints[index + 1]?.n !== undefined;
    if (!linked && !checkpointSignatureValid(checkpoint, key)) {
      return { record, seq: checkpoint.seq, reason: `checkpoint for seq ${checkpoint.seq} has an invalid signature` };
    }
    if (checkpoint.n === undefined) {
      if (chained) return { record, seq: checkpoint.seq, reason: `record ${record} has no place in the chain of checkpoints` };
    } else {
      chained = true;
      if (checkpoint.n !== record || checkpoint.prev !== checkpointLink(previous)) {
        return {
          record,
          seq: checkpoint.seq,
          reason: `record ${record} of checkpoints.jsonl (seq ${checkpoint.seq}) does not follow record ${record - 1}: signed records were removed, reordered or inserted`,
        };
      }
    }
    previous = checkpoint;
  }
  return null;
}
