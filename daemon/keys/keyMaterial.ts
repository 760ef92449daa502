import type { KeyObject } from 'node:crypto';

/**
 * The secret keys of one store, as the daemon holds them in memory. They come from the OS keychain or are
 * derived from `AI_AUDIT_MASTER_KEY`; they are never written to a file, a log or the wire.
 */
export interface KeyMaterial {
  /** Where the keys come from. */
  readonly source: 'keychain' | 'master-key';
  /** Active HMAC-SHA-256 key for `hash` content mode (32 bytes). */
  readonly hmac: { readonly id: string; readonly key: Buffer };
  /** Active AES-256-GCM key for `encrypted` content mode (32 bytes). */
  readonly encryption: { readonly id: string; readonly key: Buffer };
  /** Every encryption key ever made for this store, by id, so that old entries stay readable. */
  readonly encryptionKeys: ReadonlyMap<string, Buffer>;
  /** Every HMAC key ever made, by id, so that a reviewer can still check content against old entries. */
  readonly hmacKeys: ReadonlyMap<string, Buffer>;
  /** Active Ed25519 key that signs checkpoints. */
  readonly signing: { readonly id: string; readonly privateKey: KeyObject; readonly publicKey: KeyObject };
  /** Public keys of every signing key ever made, by id, so that old checkpoints still verify. */
  readonly signingPublicKeys: ReadonlyMap<string, KeyObject>;
}

/** Loads and rotates the keys of one data dir. One backend per file (keychain, master key). */
export interface KeyStore {
  readonly source: KeyMaterial['source'];
  /** Loads the keys, creating them on first use. */
  load(): Promise<KeyMaterial>;
  /** Makes new active HMAC, encryption and signing keys; keeps the old ones for reading and verifying. */
  rotate(): Promise<KeyMaterial>;
}
