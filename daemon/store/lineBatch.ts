import { hash } from 'node:crypto';

/** `"hash":"` + 64 hex digits + `"`: the member a stored line has and its hashed bytes do not. */
const HASH_MEMBER_BYTES = 8 + 64 + 1;
/** `"hash":"` as bytes: set one by one, cheaper than a call into the encoder for 8 bytes. */
const HASH_PREFIX = [...Buffer.from('"hash":"', 'latin1')];

/**
 * The stored lines of one batch, written into one buffer as they are built and handed to the segment write
 * as it is. Each line is sealed here: its canonical members before and after `hash` (in key order) are
 * encoded once, SHA-256 is taken over those bytes joined (the entry without `hash`, docs/entry.md §7.2), and
 * the `"hash":"…"` member is then put between them in place. Before, every line was a string hashed (one
 * copy), measured (`Buffer.byteLength`, another), joined with the batch's others and encoded again.
 */
export class LineBatch {
  private buffer: Buffer;
  private end = 0;
  /** UTF-8 length of each line, newline included, in order. */
  readonly lineBytes: number[] = [];

  /** `expectedBytes`: a guess of the batch's size (it grows past it when needed). */
  constructor(expectedBytes = 4096) {
    this.buffer = Buffer.allocUnsafe(Math.max(256, expectedBytes));
  }

  /**
   * Appends the line `{before,"hash":"H",after}\n` where H is the SHA-256 (hex) of `{before,after}`; returns
   * H. `before` and `after` are canonical members without braces (either may be empty).
   */
  appendSealed(before: string, after: string): string {
    // UTF-8 takes at most 3 bytes per UTF-16 code unit (a surrogate pair: 4 bytes for 2 units).
    this.reserve(3 * (before.length + after.length) + HASH_MEMBER_BYTES + 4);
    const buffer = this.buffer;
    const start = this.end;
    buffer[start] = 0x7b; // {
    const afterBefore = before === '' ? start + 1 : start + 1 + buffer.write(before, start + 1, 'utf8');
    // Hashed bytes: {before,after} — the comma only between two non-empty halves.
    const both = before !== '' && after !== '';
    if (both) buffer[afterBefore] = 0x2c; // ,
    const hashedAfter = both ? afterBefore + 1 : afterBefore;
    const afterBytes = after === '' ? 0 : buffer.write(after, hashedAfter, 'utf8');
    buffer[hashedAfter + afterBytes] = 0x7d; // }
    // A plain Uint8Array view: less to make than a Buffer's `subarray` (a FastBuffer), once per line.
    const digest = hash('sha256', new Uint8Array(buffer.buffer, buffer.byteOffset + start, hashedAfter + afterBytes + 1 - start), 'hex');
    // Stored bytes: {before,"hash":"…",after} — `after` and its brace move right to make room for the member.
    const storedAfter = afterBefore + (before === '' ? 0 : 1) + HASH_MEMBER_BYTES + (after === '' ? 0 : 1);
    buffer.copyWithin(storedAfter, hashedAfter, hashedAfter + afterBytes + 1);
    let at = afterBefore;
    if (before !== '') buffer[at++] = 0x2c; // ,
    for (let i = 0; i < HASH_PREFIX.length; i++) buffer[at++] = HASH_PREFIX[i] as number;
    at += buffer.write(digest, at, 'latin1');
    buffer[at++] = 0x22; // "
    if (after !== '') buffer[at] = 0x2c; // ,
    buffer[storedAfter + afterBytes + 1] = 0x0a; // \n
    this.end = storedAfter + afterBytes + 2;
    this.lineBytes.push(this.end - start);
    return digest;
  }

  /** The lines so far, as one view of the buffer. */
  bytes(): Buffer {
    return this.buffer.subarray(0, this.end);
  }


  private reserve(bytes: number): void {
    if (this.end + bytes <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.end + bytes));
    this.buffer.copy(grown, 0, 0, this.end);
    this.buffer = grown;
  }
}
