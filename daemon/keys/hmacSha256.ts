import { hash } from 'node:crypto';

/** SHA-256's block size in bytes: HMAC pads (or hashes) the key to it. */
const BLOCK = 64;
const DIGEST = 32;
/** Message bytes the reused buffer holds at most; a larger one gets a buffer of its own for that call. */
const MAX_REUSED = 64 * 1024;

/**
 * HMAC-SHA-256 (RFC 2104) for one key, as two one-shot SHA-256 calls over precomputed `K ⊕ ipad` and
 * `K ⊕ opad` blocks written in front of the message in a reused buffer. `createHmac` makes a new Hmac
 * object (and its OpenSSL context) per call, which was about 7 % of the daemon's CPU under batched ingest;
 * this gives the same bytes (test/daemon/keys/hmacSha256.test.ts compares it with `createHmac`).
 */
export class HmacSha256 {
  private inner: Buffer;
  private readonly outer: Buffer;

  /** `key` is copied: later changes to the caller's buffer do not change this HMAC. */
  constructor(key: Buffer) {
    // A key longer than the block is hashed first, a shorter one padded with zeros (RFC 2104 §2).
    const block = Buffer.alloc(BLOCK);
    if (key.length > BLOCK) block.write(hash('sha256', key, 'binary'), 'binary');
    else key.copy(block);
    // Zeroed, not `allocUnsafe`: pooled memory may hold what other buffers left, and a message must be findable
    // in this buffer only while `hex` runs (test/daemon/keys/hmacSha256.test.ts searches it afterwards).
    this.inner = Buffer.alloc(BLOCK + 1024);
    this.outer = Buffer.alloc(BLOCK + DIGEST);
    for (let i = 0; i < BLOCK; i++) {
      this.inner[i] = (block[i] as number) ^ 0x36;
      this.outer[i] = (block[i] as number) ^ 0x5c;
    }
    block.fill(0);
  }

  /** The HMAC of the UTF-8 bytes of `text`, as 64 lowercase hex characters. */
  hex(text: string): string {
    // At most 3 UTF-8 bytes per UTF-16 code unit (a surrogate pair is 2 units for 4 bytes).
    const most = BLOCK + text.length * 3;
    let inner = this.inner;
    if (most > inner.length) {
      inner = Buffer.alloc(most);
      this.inner.copy(inner, 0, 0, BLOCK);
      if (most <= BLOCK + MAX_REUSED) this.inner = inner;
    }
    const length = BLOCK + inner.write(text, BLOCK, 'utf8');
    // The inner digest as binary (latin1) text, one character per byte, and written back as such: `hash` makes a
    // string several times faster than a Buffer. The message is passed as a plain Uint8Array view, which costs less
    // to make than a Buffer's `subarray` (a FastBuffer).
    this.outer.write(hash('sha256', new Uint8Array(inner.buffer, inner.byteOffset, length), 'binary'), BLOCK, 'binary');
    // The message is raw content (a prompt): not kept in a long-lived buffer after this call.
    inner.fill(0, BLOCK, length);
    return hash('sha256', this.outer, 'hex');
  }
}
