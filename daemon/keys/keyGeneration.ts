import { createPrivateKey, createPublicKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { KeyMaterial } from './keyMaterial.ts';

/**
 * One generation of keys, made together and rotated together under one id (`k1`… in the keychain,
 * `m1`… from the master key): the HMAC, encryption and signing key of an entry or checkpoint share it.
 */
export interface KeyGeneration {
  readonly id: string;
  /** HMAC-SHA-256 key, 32 bytes. */
  readonly hmac: Buffer;
  /** AES-256-GCM key, 32 bytes. */
  readonly encryption: Buffer;
  /** Ed25519 private key. */
  readonly signing: KeyObject;
}

/**
 * Reads an Ed25519 private key from PKCS#8 DER (48 bytes for Ed25519).
 * @throws Error when the bytes are not a PKCS#8 key or the key is of another type.
 */
export function ed25519FromPkcs8(der: Buffer): KeyObject {
  const key = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`expected an Ed25519 key, got ${String(key.asymmetricKeyType)}`);
  return key;
}

/**
 * Assembles the {@link KeyMaterial} of a store from all its generations.
 *
 * @param generations Oldest first; every one stays available for reading and verifying.
 * @param activeId The generation that writes and signs from now on.
 */
export function buildKeyMaterial(
  source: KeyMaterial['source'],
  generations: readonly KeyGeneration[],
  activeId: string,
): KeyMaterial {
  const active = generations.find((generation) => generation.id === activeId);
  if (active === undefined) throw new Error(`active key ${activeId} is not among the store's keys`);
  return {
    source,
    hmac: { id: active.id, key: active.hmac },
    encryption: { id: active.id, key: active.encryption },
    hmacKeys: new Map(generations.map((generation) => [generation.id, generation.hmac])),
    encryptionKeys: new Map(generations.map((generation) => [generation.id, generation.encryption])),
    signing: { id: active.id, privateKey: active.signing, publicKey: createPublicKey(active.signing) },
    signingPublicKeys: new Map(generations.map((generation) => [generation.id, createPublicKey(generation.signing)])),
  };
}
