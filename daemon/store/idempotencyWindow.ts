import { hash } from 'node:crypto';
import type { IngestAck } from '../protocol/messages.ts';

/** Bytes of SHA-256 kept per key: 128 bits, so two different keys of a store never meet by chance. */
const DIGEST_BYTES = 16;
const ID_BYTES = 16;

/**
 * The most recently acknowledged idempotency keys and their acks, at most `capacity`, the oldest dropped
 * first. Each key is held as the first 16 bytes of its SHA-256 and each id as its 16 bytes, in typed arrays
 * outside the JavaScript heap: about 50 bytes per key whatever its length (up to 512 characters), against a
 * few hundred for a Map of strings and ack objects that the garbage collector walks again and again under
 * ingest. SHA-256 rather than a fast hash: a client that could make two keys collide could get another
 * producer's event answered as a duplicate and never stored.
 *
 * Layout: a ring of slots in insertion order (digest, seq, id) and an open-addressing table (linear probing,
 * backward-shift deletion) from digest to slot. Each bucket holds its slot and the digest's first 4 bytes side
 * by side: a probe passes over other keys and finds an entry's home bucket without reading the slots' digests,
 * which lie elsewhere in memory (a cache miss per key compared, once the window is large).
 */
export class IdempotencyWindow {
  readonly capacity: number;
  private readonly digests: Uint8Array;
  private readonly seqs: Float64Array;
  private readonly ids: Uint8Array;
  /** Per bucket, two numbers: slot + 1 (0 is empty), and the first 4 bytes of the slot's digest. */
  private readonly table: Int32Array;
  private readonly mask: number;
  /** The oldest slot, and how many are used. */
  private head = 0;
  private used = 0;

  constructor(capacity: number) {
    this.capacity = Math.max(1, Math.floor(capacity));
    this.digests = new Uint8Array(this.capacity * DIGEST_BYTES);
    this.seqs = new Float64Array(this.capacity);
    this.ids = new Uint8Array(this.capacity * ID_BYTES);
    let buckets = 1;
    while (buckets < this.capacity * 2) buckets *= 2;
    this.table = new Int32Array(buckets * 2);
    this.mask = buckets - 1;
  }

  get size(): number {
    return this.used;
  }

  /**
   * The ack of `key`, if it is among the remembered ones. `digest` is {@link idempotencyDigest} of `key`,
   * when the caller has it already (it is computed once per event, for `get` and later `set`).
   */
  get(key: string, digest: string = idempotencyDigest(key)): IngestAck | undefined {
    const bucket = this.find(digest);
    if (bucket < 0) return undefined;
    const slot = (this.table[2 * bucket] as number) - 1;
    return { seq: this.seqs[slot] as number, id: idText(this.ids, slot * ID_BYTES) };
  }

  /**
   * Remembers `key` as the newest; the oldest key goes when the window is full. A key already remembered
   * gets the new ack. An ack whose id is not a UUID (never the daemon's) is not remembered.
   */
  set(key: string, ack: IngestAck, digest: string = idempotencyDigest(key)): void {
    if (!isUuid(ack.id)) return;
    const existing = this.find(digest);
    if (existing >= 0) {
      this.write((this.table[2 * existing] as number) - 1, digest, ack);
      return;
    }
    if (this.used === this.capacity) this.dropOldest();
    const slot = (this.head + this.used) % this.capacity;
    this.used++;
    this.write(slot, digest, ack);
    const prefix = digestPrefix(digest);
    let bucket = prefix & this.mask;
    while (this.table[2 * bucket] !== 0) bucket = (bucket + 1) & this.mask;
    this.table[2 * bucket] = slot + 1;
    this.table[2 * bucket + 1] = prefix;
  }

  private write(slot: number, digest: string, ack: IngestAck): void {
    const digestAt = slot * DIGEST_BYTES;
    for (let i = 0; i < DIGEST_BYTES; i++) this.digests[digestAt + i] = digest.charCodeAt(i);
    this.seqs[slot] = ack.seq;
    const hex = ack.id;
    const at = slot * ID_BYTES;
    // xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx: 32 hex digits around 4 dashes (checked by isUuid).
    for (let i = 0, j = 0; i < ID_BYTES; i++, j += 2) {
      if (j === 8 || j === 13 || j === 18 || j === 23) j++;
      this.ids[at + i] = (hexValue(hex.charCodeAt(j)) << 4) | hexValue(hex.charCodeAt(j + 1));
    }
  }

  private dropOldest(): void {
    const slot = this.head;
    // The oldest slot's own bucket: the one in its probe run that holds it.
    for (let bucket = this.bucketOf(this.digests, slot * DIGEST_BYTES); ; bucket = (bucket + 1) & this.mask) {
      const entry = this.table[2 * bucket] as number;
      if (entry === 0) break;
      if (entry - 1 === slot) {
        this.removeBucket(bucket);
        break;
      }
    }
    this.head = (this.head + 1) % this.capacity;
    this.used--;
  }

  /** The bucket holding `digest`, or -1. */
  private find(digest: string): number {
    const prefix = digestPrefix(digest);
    for (let bucket = prefix & this.mask; ; bucket = (bucket + 1) & this.mask) {
      const entry = this.table[2 * bucket] as number;
      if (entry === 0) return -1;
      if (this.table[2 * bucket + 1] === prefix && this.sameDigest(entry - 1, digest)) return bucket;
    }
  }

  /** Backward-shift deletion: later entries of the probe run move up, so lookups need no tombstones. */
  private removeBucket(bucket: number): void {
    let hole = bucket;
    for (let next = (hole + 1) & this.mask; ; next = (next + 1) & this.mask) {
      const entry = this.table[2 * next] as number;
      if (entry === 0) break;
      const prefix = this.table[2 * next + 1] as number;
      const home = prefix & this.mask;
      // The entry may fill the hole unless its home lies cyclically in (hole, next].
      if (((next - home) & this.mask) >= ((next - hole) & this.mask)) {
        this.table[2 * hole] = entry;
        this.table[2 * hole + 1] = prefix;
        hole = next;
      }
    }
    this.table[2 * hole] = 0;
  }

  private bucketOf(bytes: Uint8Array, at: number): number {
    return ((bytes[at] as number) | ((bytes[at + 1] as number) << 8) | ((bytes[at + 2] as number) << 16) | ((bytes[at + 3] as number) << 24)) & this.mask;
  }

  private sameDigest(slot: number, digest: string): boolean {
    const at = slot * DIGEST_BYTES;
    for (let i = 0; i < DIGEST_BYTES; i++) if (this.digests[at + i] !== digest.charCodeAt(i)) return false;
    return true;
  }
}

/**
 * The SHA-256 of an idempotency key as binary (latin1) text, one character per byte (the window keeps the first
 * 16): `hash` returns a string several times faster than a Buffer, and the caller keeps it per event.
 */
export function idempotencyDigest(key: string): string {
  return hash('sha256', key, 'binary');
}

/** The first 4 bytes of a digest (binary text) as one 32-bit number: its home bucket's bits, and a quick compare. */
function digestPrefix(digest: string): number {
  return digest.charCodeAt(0) | (digest.charCodeAt(1) << 8) | (digest.charCodeAt(2) << 16) | (digest.charCodeAt(3) << 24);
}

/** Value of a lowercase hex digit's char code. */
function hexValue(code: number): number {
  return code <= 57 ? code - 48 : code - 87;
}

/** `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` in lowercase hex: char checks, no regex per event. */
function isUuid(id: string): boolean {
  if (id.length !== 36) return false;
  for (let i = 0; i < 36; i++) {
    const code = id.charCodeAt(i);
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      if (code !== 45) return false;
    } else if (!((code >= 48 && code <= 57) || (code >= 97 && code <= 102))) {
      return false;
    }
  }
  return true;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

function idText(ids: Uint8Array, at: number): string {
  let text = '';
  for (let i = 0; i < ID_BYTES; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) text += '-';
    text += HEX[ids[at + i] as number] as string;
  }
  return text;
}
