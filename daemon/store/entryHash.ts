import { createHash } from 'node:crypto';
import type { Entry } from '../protocol/entry.ts';
import { canonicalJson, canonicalMembers } from './canonicalJson.ts';

/** SHA-256 (hex) over the canonical serialization of the entry without its `hash` field. */
export function entryHash(entry: Omit<Entry, 'hash'> | Entry): string {
  const { hash: _ignored, ...rest } = entry as Entry;
  return createHash('sha256').update(canonicalJson(rest)).digest('hex');
}

/**
 * Hashes an entry and serializes it in one pass: the canonical members are computed once, hashed
 * without `hash`, and joined again with `"hash"` in its sorted place for the stored line.
 */
export function sealEntry(entry: Omit<Entry, 'hash'>): { entry: Entry; line: string } {
  const members = canonicalMembers(entry as Record<string, unknown>);
  const hash = createHash('sha256').update('{' + members.join(',') + '}').digest('hex');
  const hashMember = `"hash":"${hash}"`;
  // Members start with their quoted key, so string order of members is key order ('"' sorts first).
  let at = members.findIndex((m) => m > hashMember);
  if (at === -1) at = members.length;
  members.splice(at, 0, hashMember);
  // The entry object is the builder's own: completing it in place saves a copy per event.
  (entry as Entry).hash = hash;
  return { entry: entry as Entry, line: '{' + members.join(',') + '}\n' };
}

/** The line stored for an entry: canonical JSON of the whole entry, hash included, and a newline. */
export function entryLine(entry: Entry): string {
  return canonicalJson(entry) + '\n';
}
