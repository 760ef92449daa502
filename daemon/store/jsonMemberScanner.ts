/**
 * Finds the members of one JSON object in a buffer without building it: where each key and each value
 * starts and ends, by bytes. Verify uses it to read the few members of a stored line it checks (`seq`,
 * `prev`, `hash`, `recorded_at`, what the segment summary counts) and to hash the line's own bytes, instead
 * of a `JSON.parse` per line.
 *
 * It tracks strings (an unescaped `"` only delimits; `\` escapes the next byte) and nesting depth, so a key
 * or a quote inside a nested value or a string is never taken for a member of this object. It is not a
 * validator: numbers and literals are not checked, and verify relies on it only for lines whose bytes the
 * hash chain proves (docs/entry.md §7.2); anything it does not recognize is parsed in full.
 */

/** Slots per member in the output: key start, key end, value start, value end (ends exclusive). */
export const MEMBER_SLOTS = 4;

const QUOTE = 34;
const BACKSLASH = 92;
const COMMA = 44;
const COLON = 58;
const OPEN_BRACE = 123;
const CLOSE_BRACE = 125;
const OPEN_BRACKET = 91;
const CLOSE_BRACKET = 93;
/** Bytes of numbers (`-0.5e+7`) and of `true`, `false`, `null`. */
const LITERAL_BYTES = new Uint8Array(256);
for (const c of '0123456789+-.eEtruefalsn') LITERAL_BYTES[c.charCodeAt(0)] = 1;
/** Strings longer than this are searched for their end natively (hashes, HMACs, ids, texts). */
const SHORT_STRING = 16;

/**
 * Scans the object in `buf[start, end)` (exactly one object, no white space, as canonical JSON is) and writes
 * {@link MEMBER_SLOTS} numbers per member into `out`, key ranges without their quotes and value ranges with
 * them. Returns the number of members, or -1 when the bytes are not such an object, when there are more
 * members than `out` holds, or (with `canonicalKeys`) when a key is escaped or not ASCII or the keys are not
 * in strictly increasing order (so duplicates and non-canonical order are refused, not resolved).
 */
export function scanMembers(buf: Buffer, start: number, end: number, out: Int32Array, canonicalKeys: boolean): number {
  if (end - start < 2 || buf[start] !== OPEN_BRACE || buf[end - 1] !== CLOSE_BRACE) return -1;
  if (end - start === 2) return 0;
  const last = end - 1;
  let count = 0;
  let previousKeyStart = -1;
  let previousKeyEnd = -1;
  let i = start + 1;
  for (;;) {
    // A key: a string, then a colon.
    if (buf[i] !== QUOTE) return -1;
    const keyStart = i + 1;
    let keyEnd: number;
    if (canonicalKeys) {
      // Plain ASCII without escapes: its end is the next quote, found in the same pass that checks its bytes.
      keyEnd = keyStart;
      for (;;) {
        if (keyEnd >= last) return -1;
        const c = buf[keyEnd] as number;
        if (c === QUOTE) break;
        if (c === BACKSLASH || c >= 128) return -1;
        keyEnd++;
      }
      if (previousKeyStart >= 0 && compareBytes(buf, previousKeyStart, previousKeyEnd, keyStart, keyEnd) >= 0) return -1;
      previousKeyStart = keyStart;
      previousKeyEnd = keyEnd;
    } else {
      keyEnd = stringEnd(buf, i, last);
      if (keyEnd < 0) return -1;
    }
    i = keyEnd + 1;
    if (buf[i] !== COLON) return -1;
    i++;
    // A value.
    const valueStart = i;
    const first = buf[i];
    if (first === QUOTE) {
      i = stringEnd(buf, i, last);
      if (i < 0) return -1;
      i++;
    } else if (first === OPEN_BRACE || first === OPEN_BRACKET) {
      i = skipNested(buf, i, last);
      if (i < 0) return -1;
    } else {
      // A number or a literal: up to the next delimiter of this object, in the bytes they are made of.
      while (i < last && buf[i] !== COMMA) {
        if (LITERAL_BYTES[buf[i] as number] !== 1) return -1;
        i++;
      }
      if (i === valueStart) return -1;
    }
    if (count * MEMBER_SLOTS + MEMBER_SLOTS > out.length) return -1;
    const at = count * MEMBER_SLOTS;
    out[at] = keyStart;
    out[at + 1] = keyEnd;
    out[at + 2] = valueStart;
    out[at + 3] = i;
    count++;
    if (i === last) return count;
    if (buf[i] !== COMMA) return -1;
    i++;
  }
}

/**
 * Where the string opening at `buf[open]` closes (its unescaped `"`), looking no further than `limit`; -1
 * if it does not. A `"` is escaped when an odd number of backslashes precede it: escapes are two bytes
 * (`\\`, `\"`, `\n`, `\uXXXX` has no backslash after the `u`).
 */
export function stringEnd(buf: Buffer, open: number, limit: number): number {
  let i = open + 1;
  const stop = Math.min(limit, i + SHORT_STRING);
  for (; i < stop; i++) {
    const c = buf[i];
    if (c === QUOTE) return i;
    if (c === BACKSLASH) i++;
  }
  // `i` starts a character here (never the second byte of an escape): count backslashes back to it only.
  const from = i;
  for (;;) {
    if (i >= limit) return -1;
    const q = buf.indexOf(QUOTE, i);
    if (q < 0 || q >= limit) return -1;
    let run = 0;
    while (q - run - 1 >= from && buf[q - run - 1] === BACKSLASH) run++;
    if (run % 2 === 0) return q;
    i = q + 1;
  }
}

/** The end (exclusive) of the object or array opening at `buf[at]`, looking no further than `limit`; -1 if none. */
function skipNested(buf: Buffer, at: number, limit: number): number {
  let depth = 0;
  let i = at;
  while (i < limit) {
    const c = buf[i];
    if (c === QUOTE) {
      i = stringEnd(buf, i, limit);
      if (i < 0) return -1;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      depth++;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      depth--;
      if (depth === 0) return i + 1;
    }
    i++;
  }
  return -1;
}

/** Byte order of two ranges (for ASCII keys the same as JavaScript's UTF-16 code unit order). */
function compareBytes(buf: Buffer, aStart: number, aEnd: number, bStart: number, bEnd: number): number {
  const length = Math.min(aEnd - aStart, bEnd - bStart);
  for (let k = 0; k < length; k++) {
    const d = (buf[aStart + k] as number) - (buf[bStart + k] as number);
    if (d !== 0) return d;
  }
  return aEnd - aStart - (bEnd - bStart);
}

/** Whether the bytes `buf[start, end)` are the ASCII string `text`. */
export function bytesAre(buf: Buffer, start: number, end: number, text: string): boolean {
  if (end - start !== text.length) return false;
  for (let k = 0; k < text.length; k++) if (buf[start + k] !== text.charCodeAt(k)) return false;
  return true;
}
