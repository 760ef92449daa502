import type { AsyncEntry } from '@napi-rs/keyring';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { realpath } from 'node:fs/promises';
import { z } from 'zod';
import { AuditError, ErrorCodes } from '../protocol/errors.ts';
import { buildKeyMaterial, ed25519FromPkcs8 } from './keyGeneration.ts';
import type { KeyGeneration } from './keyGeneration.ts';
import type { KeyMaterial, KeyStore } from './keyMaterial.ts';

/** Service name of every keychain item the product writes. */
export const KEYCHAIN_SERVICE = 'ai-audit-trail';

const KeyId = z.string().regex(/^k[1-9][0-9]{0,5}$/);
const Key32 = z.base64().refine((text) => Buffer.from(text, 'base64').length === 32, 'expected 32 bytes');

/**
 * The keychain item's value: every key generation of one store, by id, and which one is active.
 * Strict, so that a daemon never rewrites (and thereby drops) fields that a newer version added.
 */
const KeyDocument = z.strictObject({
  version: z.literal(1),
  active: KeyId,
  keys: z.record(
    KeyId,
    z.strictObject({
      created_at: z.iso.datetime(),
      /** HMAC-SHA-256 key, base64. */
      hmac: Key32,
      /** AES-256-GCM key, base64. */
      encryption: Key32,
      /** Ed25519 private key, PKCS#8 DER, base64. */
      signing: z.base64(),
    }),
  ),
});
type KeyDocument = z.infer<typeof KeyDocument>;

/**
 * The keychain account of a data dir: `store:` + the first 16 hex digits of the SHA-256 of its real
 * path, so that two data dirs never share keys and a symlinked path finds the same ones.
 * The directory must exist.
 */
export async function keychainAccount(home: string): Promise<string> {
  const path = await realpath(home);
  return `store:${createHash('sha256').update(path, 'utf8').digest('hex').slice(0, 16)}`;
}

/**
 * Keeps a store's keys as one JSON item in the OS keychain (macOS Keychain, Windows Credential Manager,
 * Secret Service on Linux), under service {@link KEYCHAIN_SERVICE} and account {@link keychainAccount}.
 * The first load creates the keys; rotation adds a generation (`k1`, `k2`, …) and keeps the old ones.
 * Every keychain failure becomes AuditError `keychain_unavailable` with what to do about it.
 */
export class KeychainKeyStore implements KeyStore {
  readonly source = 'keychain';
  private readonly home: string;
  /** Serializes load and rotate: both read, change and write back the one keychain item. */
  private tail: Promise<unknown> = Promise.resolve();

  /** @param home The data dir; it must exist when {@link load} or {@link rotate} runs. */
  constructor(home: string) {
    this.home = home;
  }

  load(): Promise<KeyMaterial> {
    return this.exclusive(async () => {
      const { entry, account } = await this.openEntry();
      const stored = await keychainCall('read the keys from', () => entry.getPassword());
      if (stored !== null) return toMaterial(parseDocument(stored, account), account);
      const created = withNewGeneration(undefined);
      await keychainCall('store new keys in', () => entry.setPassword(JSON.stringify(created)));
      return toMaterial(created, account);
    });
  }

  rotate(): Promise<KeyMaterial> {
    return this.exclusive(async () => {
      const { entry, account } = await this.openEntry();
      const stored = await keychainCall('read the keys from', () => entry.getPassword());
      const rotated = withNewGeneration(stored === null ? undefined : parseDocument(stored, account));
      await keychainCall('store the rotated keys in', () => entry.setPassword(JSON.stringify(rotated)));
      return toMaterial(rotated, account);
    });
  }

  private async openEntry(): Promise<{ entry: AsyncEntry; account: string }> {
    const account = await keychainAccount(this.home);
    // Pinned to the Secret Service on Linux: the library's default silently falls back to the kernel
    // keyring, which forgets everything at logout or reboot — and with it every key of the store.
    // The native module is loaded on first use only: a daemon on AI_AUDIT_MASTER_KEY never loads it.
    const entry = await keychainCall('open', async () => {
      const { AsyncEntry: Entry } = await import('@napi-rs/keyring');
      return new Entry(KEYCHAIN_SERVICE, account, { linux: { store: 'secret-service' } });
    });
    return { entry, account };
  }

  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.tail.then(task);
    this.tail = run.catch(() => undefined);
    return run;
  }
}

/** A copy of `document` (or a new one) with a fresh generation of random keys, made active. */
function withNewGeneration(document: KeyDocument | undefined): KeyDocument {
  const keys = document?.keys ?? {};
  const next = Math.max(0, ...Object.keys(keys).map(idNumber)) + 1;
  const id = `k${next}`;
  const signing = generateKeyPairSync('ed25519').privateKey.export({ format: 'der', type: 'pkcs8' });
  return {
    version: 1,
    active: id,
    keys: {
      ...keys,
      [id]: {
        created_at: new Date().toISOString(),
        hmac: randomBytes(32).toString('base64'),
        encryption: randomBytes(32).toString('base64'),
        signing: signing.toString('base64'),
      },
    },
  };
}

function parseDocument(stored: string, account: string): KeyDocument {
  let json: unknown;
  try {
    json = JSON.parse(stored);
  } catch {
    // No cause: V8's JSON error quotes the text, which is key material.
    throw unreadable(account, 'not JSON');
  }
  const result = KeyDocument.safeParse(json);
  if (!result.success) {
    const paths = result.error.issues.map((issue) => issue.path.join('.') || '(root)');
    throw unreadable(account, `invalid at ${[...new Set(paths)].join(', ')}`);
  }
  if (!Object.hasOwn(result.data.keys, result.data.active)) throw unreadable(account, 'the active key is missing');
  return result.data;
}

function toMaterial(document: KeyDocument, account: string): KeyMaterial {
  const generations: KeyGeneration[] = Object.entries(document.keys)
    .sort(([a], [b]) => idNumber(a) - idNumber(b))
    .map(([id, stored]) => {
      let signing: KeyObject;
      try {
        signing = ed25519FromPkcs8(Buffer.from(stored.signing, 'base64'));
      } catch {
        throw unreadable(account, `keys.${id}.signing is not an Ed25519 private key`);
      }
      return {
        id,
        hmac: Buffer.from(stored.hmac, 'base64'),
        encryption: Buffer.from(stored.encryption, 'base64'),
        signing,
      };
    });
  return buildKeyMaterial('keychain', generations, document.active);
}

function idNumber(id: string): number {
  return Number(id.slice(1));
}

async function keychainCall<T>(action: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error: unknown) {
    // The library reports every failure (no D-Bus, no Secret Service, locked or dismissed prompt) as
    // GenericFailure with a message; none of them is recoverable here, so each gets the same advice.
    const reason = error instanceof Error ? error.message : String(error);
    throw new AuditError(
      ErrorCodes.KeychainUnavailable,
      `Could not ${action} the OS keychain (${reason}). Start a keychain — on Linux, an unlocked ` +
        'gnome-keyring (or another Secret Service) inside a D-Bus session, so that DBUS_SESSION_BUS_ADDRESS ' +
        'is set — or, on a headless server, set AI_AUDIT_MASTER_KEY to the base64 of 32 random bytes ' +
        '(`openssl rand -base64 32`) and keep that value as safe as the data: what is encrypted under it ' +
        'cannot be read without it.',
      undefined,
      { cause: error },
    );
  }
}

function unreadable(account: string, why: string): AuditError {
  return new AuditError(
    ErrorCodes.KeychainUnavailable,
    `The keychain item ${KEYCHAIN_SERVICE} / ${account} does not hold keys this version can read (${why}). ` +
      'It was left untouched. Restore it from a backup, or delete it to start with new keys ' +
      '(content encrypted under the old ones then becomes unreadable).',
  );
}
