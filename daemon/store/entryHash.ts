import { hash } from 'node:crypto';
import type { Entry } from '../protocol/entry.ts';
import { canonicalJson, canonicalObject, quoteKey } from './canonicalJson.ts';

/** SHA-256 (hex) over the canonical serialization of the entry without its `hash` field. */
export function entryHash(entry: Omit<Entry, 'hash'> | Entry): string {
  // The `hash` member is skipped while serializing: no copy of the entry without it.
  return hash('sha256', canonicalObject(entry as Record<string, unknown>, 'hash'), 'hex');
}

/**
 * Hashes an entry and serializes it in one pass: the members before and after `hash` in key order are
 * serialized once, hashed joined, and joined again around `"hash"` for the stored line.
 */
export function sealEntry(entry: Omit<Entry, 'hash'>): { entry: Entry; line: string } {
  const record = entry as Record<string, unknown>;
  const keys = Object.keys(record).sort();
  let before = '';
  let after = '';
  for (const key of keys) {
    const item = record[key];
    if (item === undefined || key === 'hash') continue;
    const member = quoteKey(key) + ':' + canonicalJson(item);
    if (key < 'hash') before = before === '' ? member : before + ',' + member;
    else after = after === '' ? member : after + ',' + member;
  }
  const digest = hash('sha256', '{' + before + (before !== '' && after !== '' ? ',' : '') + after + '}', 'hex');
  // The entry object is the builder's own: completing it in place saves a copy per event.
  (entry as Entry).hash = digest;
  const line = '{' + (before === '' ? '' : before + ',') + '"hash":"' + digest + '"' + (after === '' ? '' : ',' + after) + '}\n';
  return { entry: entry as Entry, line };
}

/** The line stored for an entry: canonical JSON of the whole entry, hash included, and a newline. */
export function entryLine(entry: Entry): string {
  return canonicalJson(entry) + '\n';
}
