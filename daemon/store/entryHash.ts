import { createHash } from 'node:crypto';
import type { Entry } from '../protocol/entry.ts';
import { canonicalJson } from './canonicalJson.ts';

/** SHA-256 (hex) over the canonical serialization of the entry without its `hash` field. */
export function entryHash(entry: Omit<Entry, 'hash'> | Entry): string {
  const { hash: _ignored, ...rest } = entry as Entry;
  return createHash('sha256').update(canonicalJson(rest)).digest('hex');
}

/** The line stored for an entry: canonical JSON of the whole entry, hash included, and a newline. */
export function entryLine(entry: Entry): string {
  return canonicalJson(entry) + '\n';
}
