import { randomFillSync } from 'node:crypto';

// Random bytes are drawn 4 KiB at a time: one call per 256 ids instead of one per id.
const pool = Buffer.alloc(4096);
let poolOffset = pool.length;

/** Lowercase hex digits as char codes. */
const HEX = Buffer.from('0123456789abcdef', 'latin1');
/** The id being written, as ASCII: its dashes stay, its time digits change only with the millisecond. */
const text = Buffer.from('00000000-0000-7000-8000-000000000000', 'latin1');
let textMs = -1;

/** Writes byte `value` as two hex digits at `at`. */
function hexByte(value: number, at: number): void {
  text[at] = HEX[value >> 4] as number;
  text[at + 1] = HEX[value & 15] as number;
}

/**
 * A UUIDv7 (RFC 9562): 48-bit Unix milliseconds, then random bits. Ids sort by creation time, so a
 * lookup by id can start at the segments of that time.
 */
export function uuidv7(nowMs: number = Date.now()): string {
  // Written as text in place (one string per id): every event gets one, and the 16-byte buffer, its hex
  // string and five slices joined were 2–3 % of the ingest profile. The bits are those of RFC 9562 §5.7.
  if (nowMs !== textMs) {
    const high = Math.floor(nowMs / 0x10000);
    hexByte((high >>> 24) & 0xff, 0);
    hexByte((high >>> 16) & 0xff, 2);
    hexByte((high >>> 8) & 0xff, 4);
    hexByte(high & 0xff, 6);
    hexByte((nowMs >>> 8) & 0xff, 9);
    hexByte(nowMs & 0xff, 11);
    textMs = nowMs;
  }
  if (poolOffset + 10 > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const r = poolOffset;
  poolOffset += 10;
  text[15] = HEX[(pool[r] as number) & 0x0f] as number; // after the version digit 7
  hexByte(pool[r + 1] as number, 16);
  hexByte(((pool[r + 2] as number) & 0x3f) | 0x80, 19); // the variant bits 10
  hexByte(pool[r + 3] as number, 21);
  for (let i = 4, at = 24; i < 10; i++, at += 2) hexByte(pool[r + i] as number, at);
  return text.toString('latin1', 0, 36);
}

/** The millisecond time inside a UUIDv7, or null if the string is not one. */
export function uuidv7Time(id: string): number | null {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(id)) return null;
  return Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
}
