import { createCipheriv, createDecipheriv, randomFillSync } from 'node:crypto';
import { AuditError, ErrorCodes } from '../protocol/errors.ts';
import { HmacSha256 } from './hmacSha256.ts';

/** AES-256 key size in bytes. */
const KEY_BYTES = 32;
/** 96-bit IV: the size GCM is specified for (NIST SP 800-38D §8.2); other sizes are hashed into one. */
const IV_BYTES = 12;
/** Full 128-bit tag: shorter tags weaken forgery resistance (SP 800-38D Appendix C). */
const TAG_BYTES = 16;
const VERSION = 'v1';
const BASE64URL = /^[A-Za-z0-9_-]*$/;

/**
 * HMAC-SHA-256 of the UTF-8 bytes of `text`, as 64 lowercase hex characters. Keyed so that short
 * prompts cannot be recovered by guessing and hashing, as they can from a plain SHA-256.
 */
export function hmacHex(key: Buffer, text: string): string {
  let hmac = hmacs.get(key);
  if (hmac === undefined) {
    hmac = new HmacSha256(key);
    hmacs.set(key, hmac);
  }
  return hmac.hex(text);
}

/**
 * The prepared HMAC of each key buffer in use (a store has one active HMAC key at a time). By identity:
 * key buffers are not changed once loaded (docs/decisions.md, ingest performance).
 */
const hmacs = new WeakMap<Buffer, HmacSha256>();

/**
 * Encrypts one content field with AES-256-GCM under a fresh random 96-bit IV.
 *
 * @param key 32-byte AES key.
 * @param aad Bound to the ciphertext but not stored in it (e.g. `<entry id>:input`), so that a field
 *   copied into another entry or slot does not decrypt there.
 * @returns `v1.<iv>.<ciphertext>.<tag>`, each part base64url without padding.
 */
export function encryptField(key: Buffer, plaintext: string, aad: string): string {
  assertKey(key);
  const iv = freshIv();
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const head = cipher.update(plaintext, 'utf8');
  // GCM is a stream mode: final() adds no bytes, only computes the tag; concatenated all the same if it did.
  const rest = cipher.final();
  const ciphertext = rest.length === 0 ? head : Buffer.concat([head, rest]);
  return `${VERSION}.${iv.toString('base64url')}.${ciphertext.toString('base64url')}.${cipher.getAuthTag().toString('base64url')}`;
}

/**
 * Random IVs are drawn 4 KiB at a time (one call per 341 IVs instead of one per field: randomBytes per
 * field was 5 % of encrypted ingest). Each slice of the pool is handed out once, and used before the pool
 * is refilled (createCipheriv copies it, the caller encodes it at once).
 */
const ivPool = Buffer.alloc(IV_BYTES * 341);
let ivOffset = ivPool.length;

function freshIv(): Buffer {
  if (ivOffset + IV_BYTES > ivPool.length) {
    randomFillSync(ivPool);
    ivOffset = 0;
  }
  const iv = ivPool.subarray(ivOffset, ivOffset + IV_BYTES);
  ivOffset += IV_BYTES;
  return iv;
}

/**
 * Decrypts a field made by {@link encryptField} with the same key and AAD.
 *
 * @throws AuditError `decrypt_failed` when the field is malformed or does not authenticate (wrong key,
 *   wrong AAD, any edited character).
 */
export function decryptField(key: Buffer, field: string, aad: string): string {
  assertKey(key);
  const [version, iv, ciphertext, tag] = parseField(field);
  if (version !== VERSION || iv.length !== IV_BYTES || tag.length !== TAG_BYTES) throw malformed();
  const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  decipher.setAAD(Buffer.from(aad, 'utf8'));
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
  } catch (error: unknown) {
    throw new AuditError(
      ErrorCodes.DecryptFailed,
      'The encrypted content does not authenticate: wrong key, or the entry was altered.',
      undefined,
      { cause: error },
    );
  }
}

function parseField(field: string): [string, Buffer, Buffer, Buffer] {
  const parts = field.split('.');
  if (parts.length !== 4) throw malformed();
  const [version = '', ...encoded] = parts;
  const decoded = encoded.map((part) => {
    // Buffer's base64url decoder skips stray characters and ignores unused trailing bits; accept only the
    // one canonical spelling so that an edited character can never decode to the same bytes.
    if (!BASE64URL.test(part)) throw malformed();
    const bytes = Buffer.from(part, 'base64url');
    if (bytes.toString('base64url') !== part) throw malformed();
    return bytes;
  });
  const [iv, ciphertext, tag] = decoded;
  if (iv === undefined || ciphertext === undefined || tag === undefined) throw malformed();
  return [version, iv, ciphertext, tag];
}

function malformed(): AuditError {
  return new AuditError(ErrorCodes.DecryptFailed, 'The encrypted content is malformed (expected v1.<iv>.<ciphertext>.<tag>).');
}

/** A key of the wrong size is a bug in the caller, not bad data: fail loudly, not as decrypt_failed. */
function assertKey(key: Buffer): void {
  if (key.length !== KEY_BYTES) throw new RangeError(`AES-256-GCM needs a ${KEY_BYTES}-byte key, got ${key.length} bytes`);
}
