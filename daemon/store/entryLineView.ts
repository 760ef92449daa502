import { hash } from 'node:crypto';
import type { Entry } from '../protocol/entry.ts';
import { isSummarizableScanner, type SummaryFields } from './segmentSummary.ts';
import { MEMBER_SLOTS, scanMembers } from './jsonMemberScanner.ts';

/** The members of a stored line that verify checks (seq, prev, hash, recorded_at) and a segment summary counts. */
export type EntryLineFields = SummaryFields;

/** The names of the members read, as bytes (compared with a key of the same length; see {@link keyIs}). */
const keyBytes = (name: string): Uint8Array => Uint8Array.from(name, (c) => c.charCodeAt(0));
const KEY_SEQ = keyBytes('seq');
const KEY_HASH = keyBytes('hash');
const KEY_PREV = keyBytes('prev');
const KEY_KIND = keyBytes('kind');
const KEY_RECORDED_AT = keyBytes('recorded_at');
const KEY_TS = keyBytes('ts');
const KEY_MODEL = keyBytes('model');
const KEY_SCANNER = keyBytes('scanner');
const KEY_DECISION = keyBytes('decision');
const KEY_OPERATION = keyBytes('operation');
const KEY_RISK_SCORE = keyBytes('risk_score');
const KEY_IDEMPOTENCY_KEY = keyBytes('idempotency_key');

/** Whether the key at `buf[at]`, of `name.length` bytes (the caller's switch on its length), is `name`. */
function keyIs(buf: Buffer, at: number, name: Uint8Array): boolean {
  for (let k = 0; k < name.length; k++) if (buf[at + k] !== name[k]) return false;
  return true;
}

/** Entries have a few dozen top-level members at most; a line with more is read by `JSON.parse`. */
const MAX_MEMBERS = 64;

/**
 * Reads stored lines of a segment by their bytes (see {@link scanMembers}): the members verify needs, as
 * `JSON.parse` would give them, and whether the line hashes to its `hash` over its own bytes with the
 * `"hash":"…"` member left out. One reader is reused for every line of a walk: {@link fields} is overwritten.
 */
export class EntryLineView {
  readonly fields: EntryLineFields = { seq: 0, prev: '', hash: '', ts: '', recorded_at: '', kind: 'chat.input', decision: 'allowed' };
  /**
   * With `inPlace`, {@link read} may overwrite the line's bytes in the caller's buffer once it has read them
   * (it hashes the line without its hash member where it lies instead of copying it): for a walk that reads
   * each line once and keeps nothing of the buffer (the verify workers, segmentWalk.ts).
   */
  constructor(private readonly inPlace = false) {}
  /** Whether the last line read hashes to its `hash` (its bytes without the hash member). */
  hashMatches = false;
  private readonly spans = new Int32Array(MAX_MEMBERS * MEMBER_SLOTS);
  private scratch = Buffer.alloc(64 * 1024);
  // Values repeat from line to line (a batch shares recorded_at, kinds and decisions are few): decoded once.
  private readonly recorded = new RepeatedString();
  private readonly ts = new RepeatedString();
  private readonly kind = new RepeatedString();
  private readonly decision = new RepeatedString();
  private readonly model = new RepeatedString();
  private readonly operation = new RepeatedString();

  /**
   * Reads the line `buf[start, end)` (without its newline). False when the line is not in the shape the
   * daemon writes (an object with canonically ordered ASCII keys, `seq` a plain integer, `prev` and `hash`
   * 64-character strings, string and number members of the right type): the caller then parses it in full.
   * With `forSummary` false, the members only a summary needs are left as they were.
   */
  read(buf: Buffer, start: number, end: number, forSummary: boolean): boolean {
    const spans = this.spans;
    const count = scanMembers(buf, start, end, spans, true);
    if (count < 0) return false;
    const f = this.fields;
    let seq = -1;
    let hashAt = -1;
    let prevFound = false;
    let recordedFound = false;
    if (forSummary) {
      f.ts = '';
      f.scanner = undefined;
      f.idempotency_key = undefined;
      f.risk_score = undefined;
      f.model = undefined;
      f.operation = undefined;
    }
    for (let m = 0; m < count; m++) {
      const at = m * MEMBER_SLOTS;
      const keyStart = spans[at] ?? 0;
      const keyEnd = spans[at + 1] ?? 0;
      const valueStart = spans[at + 2] ?? 0;
      const valueEnd = spans[at + 3] ?? 0;
      const first = buf[valueStart];
      switch (keyEnd - keyStart) {
        case 3:
          if (keyIs(buf, keyStart, KEY_SEQ)) {
            seq = plainInteger(buf, valueStart, valueEnd);
            if (seq < 0) return false;
          }
          break;
        case 4:
          if (keyIs(buf, keyStart, KEY_HASH)) {
            // Compared with the digest of the line below, so it must be 64 hex digits to pass.
            if (valueEnd - valueStart !== 66 || first !== 34) return false;
            f.hash = buf.toString('latin1', valueStart + 1, valueEnd - 1);
            hashAt = m;
          } else if (keyIs(buf, keyStart, KEY_PREV)) {
            // Compared with the previous hash (hex), so it must be 64 hex digits to pass.
            if (valueEnd - valueStart !== 66 || first !== 34) return false;
            f.prev = buf.toString('latin1', valueStart + 1, valueEnd - 1);
            prevFound = true;
          } else if (forSummary && keyIs(buf, keyStart, KEY_KIND)) {
            if (first !== 34) return false;
            const kind = this.kind.of(buf, valueStart, valueEnd);
            if (kind === undefined) return false;
            f.kind = kind as Entry['kind'];
          }
          break;
        case 11:
          if (keyIs(buf, keyStart, KEY_RECORDED_AT)) {
            if (first !== 34) return false;
            const recorded_at = this.recorded.of(buf, valueStart, valueEnd);
            if (recorded_at === undefined) return false;
            f.recorded_at = recorded_at;
            recordedFound = true;
          }
          break;
        default:
          if (forSummary && !this.readSummaryMember(buf, keyStart, keyEnd, valueStart, valueEnd)) return false;
      }
    }
    if (seq < 0 || hashAt < 0 || !prevFound || !recordedFound || (forSummary && f.ts === '')) return false;
    f.seq = seq;
    this.hashMatches = this.hashWithout(buf, start, end, hashAt, count) === f.hash;
    return true;
  }

  /** The summary's members other than `kind`; false when one has a type the daemon never writes. */
  private readSummaryMember(buf: Buffer, keyStart: number, keyEnd: number, valueStart: number, valueEnd: number): boolean {
    const f = this.fields;
    const first = buf[valueStart];
    switch (keyEnd - keyStart) {
      case 2:
        if (keyIs(buf, keyStart, KEY_TS)) {
          if (first !== 34) return false;
          const ts = this.ts.of(buf, valueStart, valueEnd);
          if (ts === undefined) return false;
          f.ts = ts;
        }
        return true;
      case 5:
        if (keyIs(buf, keyStart, KEY_MODEL)) {
          if (first !== 34) return false;
          const model = this.model.of(buf, valueStart, valueEnd);
          if (model === undefined) return false;
          f.model = model;
        }
        return true;
      case 7:
        if (keyIs(buf, keyStart, KEY_SCANNER)) {
          if (first !== 123) return false;
          // Rare enough in the fields a summary counts (flagged, categories) to be parsed as it is.
          const scanner = parseOrUndefined(buf.toString('utf8', valueStart, valueEnd));
          if (scanner === undefined || !isSummarizableScanner(scanner)) return false;
          f.scanner = scanner as Entry['scanner'];
        }
        return true;
      case 8:
        if (keyIs(buf, keyStart, KEY_DECISION)) {
          if (first !== 34) return false;
          const decision = this.decision.of(buf, valueStart, valueEnd);
          if (decision === undefined) return false;
          f.decision = decision as Entry['decision'];
        }
        return true;
      case 9:
        if (keyIs(buf, keyStart, KEY_OPERATION)) {
          if (first !== 34) return false;
          const operation = this.operation.of(buf, valueStart, valueEnd);
          if (operation === undefined) return false;
          f.operation = operation;
        }
        return true;
      case 10:
        if (keyIs(buf, keyStart, KEY_RISK_SCORE)) {
          // JSON's number grammar is a subset of Number()'s, with the same values.
          if (first === undefined || !((first >= 48 && first <= 57) || first === 45)) return false;
          const value = Number(buf.toString('latin1', valueStart, valueEnd));
          if (!Number.isFinite(value)) return false;
          f.risk_score = value;
        }
        return true;
      case 15:
        if (keyIs(buf, keyStart, KEY_IDEMPOTENCY_KEY)) {
          if (first !== 34) return false;
          const key = decodeString(buf, valueStart, valueEnd);
          if (key === undefined) return false;
          f.idempotency_key = key;
        }
        return true;
      default:
        return true;
    }
  }

  /** SHA-256 (hex) of the line without member `index` (the hash) and the comma that joined it. */
  private hashWithout(buf: Buffer, start: number, end: number, index: number, count: number): string {
    const at = index * MEMBER_SLOTS;
    let cutFrom = (this.spans[at] ?? 0) - 1;
    let cutTo = this.spans[at + 3] ?? 0;
    if (index > 0) cutFrom--;
    else if (count > 1) cutTo++;
    const length = end - start - (cutTo - cutFrom);
    if (this.inPlace) {
      // The bytes before the member move up to meet those after it (one memmove, no copy of the rest).
      buf.copyWithin(start + (cutTo - cutFrom), start, cutFrom);
      return hash('sha256', buf.subarray(end - length, end), 'hex');
    }
    if (this.scratch.length < length) this.scratch = Buffer.alloc(length * 2);
    buf.copy(this.scratch, 0, start, cutFrom);
    buf.copy(this.scratch, cutFrom - start, cutTo, end);
    return hash('sha256', this.scratch.subarray(0, length), 'hex');
  }
}

/** A string member whose value often repeats the previous line's: decoded only when its bytes change. */
class RepeatedString {
  private value = '';
  /** The bytes `value` was decoded from (quotes excluded), of which the first `length` count; -1 for none. */
  private bytes = new Uint8Array(64);
  private length = -1;

  of(buf: Buffer, valueStart: number, valueEnd: number): string | undefined {
    const length = valueEnd - valueStart - 2;
    if (length === this.length) {
      // Typed array against typed array: cheaper than against the string's characters.
      const bytes = this.bytes;
      const from = valueStart + 1;
      let k = 0;
      while (k < length && buf[from + k] === bytes[k]) k++;
      if (k === length) return this.value;
    }
    const decoded = decodeString(buf, valueStart, valueEnd);
    if (decoded === undefined) return undefined;
    this.value = decoded;
    // The same bytes decode to the same string, escapes and UTF-8 included.
    if (length <= 256) {
      if (this.bytes.length < length) this.bytes = new Uint8Array(256);
      for (let k = 0; k < length; k++) this.bytes[k] = buf[valueStart + 1 + k] as number;
      this.length = length;
    } else {
      this.length = -1;
    }
    return decoded;
  }
}

/**
 * The string a quoted JSON string at `buf[valueStart, valueEnd)` stands for, exactly as `JSON.parse` reads
 * it; undefined when it is not valid JSON (an unknown escape, a raw control character after one).
 */
function decodeString(buf: Buffer, valueStart: number, valueEnd: number): string | undefined {
  let ascii = true;
  for (let i = valueStart + 1; i < valueEnd - 1; i++) {
    const c = buf[i] as number;
    if (c === 92) return parseOrUndefined(buf.toString('utf8', valueStart, valueEnd)) as string | undefined;
    if (c >= 128) ascii = false;
  }
  return buf.toString(ascii ? 'latin1' : 'utf8', valueStart + 1, valueEnd - 1);
}

/** `JSON.parse(text)`, or undefined when `text` is not JSON (the line is then parsed whole, and reported). */
function parseOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** A non-negative integer written as JSON.stringify writes it (no sign, fraction, exponent or leading zero); else -1. */
function plainInteger(buf: Buffer, start: number, end: number): number {
  const length = end - start;
  if (length < 1 || length > 15 || (length > 1 && buf[start] === 48)) return -1;
  let value = 0;
  for (let i = start; i < end; i++) {
    const d = (buf[i] as number) - 48;
    if (d < 0 || d > 9) return -1;
    value = value * 10 + d;
  }
  return value;
}
