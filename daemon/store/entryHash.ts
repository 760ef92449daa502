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

/**
 * Whether a stored line (without its newline) hashes to its entry's `hash` over its own bytes with the
 * `"hash":"…"` member left out, and that member sits where canonical key order puts it. Verify uses this
 * instead of serializing the entry again: the bytes are what the chain binds. It does not prove that the
 * rest of the line is canonical: a line whose hash no later signature vouches for needs {@link isCanonicalLine}.
 */
export function storedLineHashMatches(text: string, entry: Entry): boolean {
  if (typeof entry.hash !== 'string') return false;
  const member = '"hash":"' + entry.hash + '"';
  const at = text.indexOf(member);
  if (at <= 0) return false;
  const after = at + member.length;
  let hashed: string;
  if (text.charCodeAt(at - 1) === 44 /* , */) hashed = text.slice(0, at - 1) + text.slice(after);
  else if (text.charCodeAt(after) === 44) hashed = text.slice(0, at) + text.slice(after + 1);
  else hashed = text.slice(0, at) + text.slice(after);
  if (hash('sha256', hashed, 'hex') !== entry.hash) return false;
  // The other members are in canonical order (their bytes are the hashed ones); `hash` must sit among them
  // where sorting puts it, or an equivalent but non-canonical line would pass.
  const keys = Object.keys(entry);
  const index = keys.indexOf('hash');
  const before = keys[index - 1];
  const next = keys[index + 1];
  return (before === undefined || before < 'hash') && (next === undefined || next > 'hash');
}

/** Whether a stored line (without its newline) is exactly the canonical serialization of its entry. */
export function isCanonicalLine(text: string, entry: Entry): boolean {
  return canonicalJson(entry) === text;
}
