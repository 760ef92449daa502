import { hash } from 'node:crypto';
import type { Entry } from '../protocol/entry.ts';
import { canonicalJson, canonicalObject, memberName } from './canonicalJson.ts';

/** SHA-256 (hex) over the canonical serialization of the entry without its `hash` field. */
export function entryHash(entry: Omit<Entry, 'hash'> | Entry): string {
  // The `hash` member is skipped while serializing: no copy of the entry without it.
  return hash('sha256', canonicalObject(entry as Record<string, unknown>, 'hash'), 'hex');
}

/**
 * The canonical members of an entry before and after `hash` in key order, without braces: the entry without
 * `hash` is `{before,after}`, its stored line `{before,"hash":"…",after}`.
 */
export function membersAroundHash(record: Record<string, unknown>): { before: string; after: string } {
  const keys = Object.keys(record).sort();
  let before = '';
  let after = '';
  for (const key of keys) {
    const item = record[key];
    if (item === undefined || key === 'hash') continue;
    if (key < 'hash') {
      before += memberName(key, before === '');
      before += canonicalJson(item);
    } else {
      after += memberName(key, after === '');
      after += canonicalJson(item);
    }
  }
  return { before, after };
}

/** The line stored for an entry: canonical JSON of the whole entry, hash included, and a newline. */
export function entryLine(entry: Entry): string {
  return canonicalJson(entry) + '\n';
}

/** Reused for the bytes of a line without its `hash` member (verify hashes one line at a time). */
let scratch = Buffer.alloc(64 * 1024);

/**
 * Whether a stored line hashes to its entry's `hash` over its own bytes (`raw`, without the newline) with
 * the `"hash":"…"` member left out, and that member sits where canonical key order puts it. `text` is `raw`
 * decoded and `entry` its parse. Verify uses this instead of serializing the entry again: the bytes are what
 * the chain binds (also bytes that decode to the same text). It does not prove the rest of the line
 * canonical: a line whose hash no later signature vouches for needs {@link isCanonicalLine}.
 */
export function storedLineHashMatches(raw: Buffer, text: string, entry: Entry): boolean {
  if (typeof entry.hash !== 'string') return false;
  const member = '"hash":"' + entry.hash + '"';
  const at = text.indexOf(member);
  if (at <= 0) return false;
  // The member is ASCII; where it starts in bytes differs from `at` only when something before it is not.
  const atByte = raw.length === text.length ? at : Buffer.byteLength(text.slice(0, at), 'utf8');
  let cutFrom = atByte;
  let cutTo = atByte + member.length;
  if (raw[atByte - 1] === 44 /* , */) cutFrom--;
  else if (raw[cutTo] === 44) cutTo++;
  const length = raw.length - (cutTo - cutFrom);
  if (scratch.length < length) scratch = Buffer.alloc(length * 2);
  raw.copy(scratch, 0, 0, cutFrom);
  raw.copy(scratch, cutFrom, cutTo);
  if (hash('sha256', scratch.subarray(0, length), 'hex') !== entry.hash) return false;
  // The other members are in canonical order (their bytes are the hashed ones); `hash` must sit among them
  // where sorting puts it, or an equivalent but non-canonical line would pass.
  const keys = Object.keys(entry);
  const index = keys.indexOf('hash');
  const before = keys[index - 1];
  const next = keys[index + 1];
  return (before === undefined || before < 'hash') && (next === undefined || next > 'hash');
}

/** Whether a stored line's bytes (without the newline) are exactly the canonical serialization of its entry. */
export function isCanonicalLine(raw: Buffer, entry: Entry): boolean {
  return Buffer.from(canonicalJson(entry), 'utf8').equals(raw);
}
