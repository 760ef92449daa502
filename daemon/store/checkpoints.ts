import { sign, verify, type KeyObject } from 'node:crypto';
import { appendFile, open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { canonicalJson } from './canonicalJson.ts';

export const CHECKPOINTS_FILE = 'checkpoints.jsonl';

/**
 * A signed statement about the chain. `checkpoint`: the entry `seq` has hash `hash`. `anchor`: entries
 * up to and including `seq` (whose hash was `hash`) were removed by retention; the chain goes on from there.
 * Signed with the store's Ed25519 key so that an editor of the files cannot make new ones; kept in
 * exports too, so truncating the newest entries is detectable once a checkpoint has left the machine.
 */
export interface Checkpoint {
  type: 'checkpoint' | 'anchor';
  seq: number;
  hash: string;
  ts: string;
  key_id: string;
  /** Ed25519 signature (base64) over the canonical JSON of the other fields. */
  sig: string;
}

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

/** Appends a checkpoint and fsyncs it before returning. */
export async function appendCheckpoint(home: string, checkpoint: Checkpoint): Promise<void> {
  const path = join(home, CHECKPOINTS_FILE);
  await appendFile(path, JSON.stringify(checkpoint) + '\n', { mode: 0o600 });
  const handle = await open(path, 'r');
  try {
    await handle.datasync();
  } finally {
    await handle.close();
  }
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
    (c.type === 'checkpoint' || c.type === 'anchor') &&
    typeof c.seq === 'number' &&
    typeof c.hash === 'string' &&
    typeof c.ts === 'string' &&
    typeof c.key_id === 'string' &&
    typeof c.sig === 'string'
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
