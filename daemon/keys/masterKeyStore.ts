import { createSecretKey, hkdfSync } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { AuditError, ErrorCodes } from '../protocol/errors.ts';
import { buildKeyMaterial, ed25519FromPkcs8 } from './keyGeneration.ts';
import type { KeyGeneration } from './keyGeneration.ts';
import type { KeyMaterial, KeyStore } from './keyMaterial.ts';

/**
 * Where the current key generation is kept. It is not secret (the master key is), so the daemon backs it
 * with its state file. `read()` returns 0 (or less) when nothing is stored yet.
 */
export interface KeyGenerationCounter {
  read(): Promise<number>;
  write(generation: number): Promise<void>;
}

const MASTER_KEY_BYTES = 32;
const HKDF_SALT = 'ai-audit-trail';
/** PKCS#8 DER header of an Ed25519 private key (RFC 8410 §7); the 32-byte seed follows it. */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
/** Each generation is derived on every load: a bound keeps a corrupt state file from hanging startup. */
const MAX_GENERATION = 10_000;
const HOW_TO_FIX = 'Set it to the base64 of 32 random bytes (`openssl rand -base64 32`), or unset it to use the OS keychain.';

/**
 * Keys derived from `AI_AUDIT_MASTER_KEY` with HKDF-SHA-256, for headless servers without a keychain.
 * Generation n (key id `m<n>`) uses salt `ai-audit-trail` and info `hmac:<n>`, `enc:<n>` and `sign:<n>`
 * (the Ed25519 seed); every generation up to the current one stays available. Changing the master key
 * makes all content stored under the old one unreadable, so keep it as safe as the data.
 */
export class MasterKeyStore implements KeyStore {
  readonly source = 'master-key';
  private readonly master: KeyObject;
  private readonly generation: KeyGenerationCounter;
  /** Serializes load and rotate: two interleaved rotations would both claim the same generation. */
  private tail: Promise<unknown> = Promise.resolve();

  /**
   * @param options.masterKey The value of `AI_AUDIT_MASTER_KEY`: base64 of exactly 32 bytes
   *   (surrounding whitespace is ignored).
   * @throws AuditError `keychain_unavailable` when the master key is empty, not base64 or not 32 bytes;
   *   the message never contains the value.
   */
  constructor(options: { masterKey: string; generation: KeyGenerationCounter }) {
    const bytes = parseMasterKey(options.masterKey);
    this.master = createSecretKey(bytes);
    bytes.fill(0); // createSecretKey copied it; leave no second copy on the heap.
    this.generation = options.generation;
  }

  load(): Promise<KeyMaterial> {
    return this.exclusive(async () => {
      const stored = await this.readGeneration();
      if (stored < 1) await this.generation.write(1);
      return this.material(Math.max(stored, 1));
    });
  }

  rotate(): Promise<KeyMaterial> {
    return this.exclusive(async () => {
      const next = Math.max(await this.readGeneration(), 1) + 1;
      if (next > MAX_GENERATION) throw new AuditError(ErrorCodes.KeychainUnavailable, `Cannot rotate past key generation ${MAX_GENERATION}.`);
      await this.generation.write(next);
      return this.material(next);
    });
  }

  private async readGeneration(): Promise<number> {
    const generation = await this.generation.read();
    if (!Number.isSafeInteger(generation) || generation < 0 || generation > MAX_GENERATION) {
      throw new AuditError(
        ErrorCodes.KeychainUnavailable,
        `The stored key generation (${String(generation)}) is not an integer from 0 to ${MAX_GENERATION}; the state file was altered.`,
      );
    }
    return generation;
  }

  private material(current: number): KeyMaterial {
    const generations: KeyGeneration[] = [];
    for (let n = 1; n <= current; n++) {
      generations.push({
        id: `m${n}`,
        hmac: this.derive(`hmac:${n}`),
        encryption: this.derive(`enc:${n}`),
        signing: ed25519FromPkcs8(Buffer.concat([ED25519_PKCS8_PREFIX, this.derive(`sign:${n}`)])),
      });
    }
    return buildKeyMaterial(this.source, generations, `m${current}`);
  }

  /** 32 bytes of HKDF-SHA-256 output for one purpose and generation. */
  private derive(info: string): Buffer {
    return Buffer.from(hkdfSync('sha256', this.master, HKDF_SALT, info, 32));
  }

  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.tail.then(task);
    this.tail = run.catch(() => undefined);
    return run;
  }
}

/** Decodes the master key, saying what is wrong without ever repeating the value. */
function parseMasterKey(value: string): Buffer {
  const text = value.trim();
  if (text === '') throw masterKeyError(`AI_AUDIT_MASTER_KEY is set but empty. ${HOW_TO_FIX}`);
  // Buffer.from(…, 'base64') silently skips characters outside the alphabet: check the spelling first.
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text) || text.length % 4 !== 0) {
    throw masterKeyError(`AI_AUDIT_MASTER_KEY is not standard padded base64 (${text.length} characters). ${HOW_TO_FIX}`);
  }
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length !== MASTER_KEY_BYTES) {
    throw masterKeyError(`AI_AUDIT_MASTER_KEY decodes to ${bytes.length} bytes; it must be exactly ${MASTER_KEY_BYTES}. ${HOW_TO_FIX}`);
  }
  return bytes;
}

function masterKeyError(message: string): AuditError {
  return new AuditError(ErrorCodes.KeychainUnavailable, message);
}
