import type { KeyStatus } from '../protocol/messages.ts';
import { KeychainKeyStore } from './keychainKeyStore.ts';
import type { KeyMaterial, KeyStore } from './keyMaterial.ts';
import { MasterKeyStore } from './masterKeyStore.ts';
import type { KeyGenerationCounter } from './masterKeyStore.ts';

/**
 * Picks the key backend of a data dir: keys derived from `AI_AUDIT_MASTER_KEY` when that variable is set
 * (even to an empty or bad value, which then fails loudly rather than quietly switching to other keys),
 * otherwise the OS keychain.
 *
 * @param options.home The data dir (must exist before `load()`).
 * @param options.generation Where the master-key generation is kept (the daemon's state file).
 * @throws AuditError `keychain_unavailable` when `AI_AUDIT_MASTER_KEY` is set but not base64 of 32 bytes.
 */
export function openKeyStore(options: { home: string; env: NodeJS.ProcessEnv; generation: KeyGenerationCounter }): KeyStore {
  const masterKey = options.env.AI_AUDIT_MASTER_KEY;
  if (masterKey !== undefined) return new MasterKeyStore({ masterKey, generation: options.generation });
  return new KeychainKeyStore(options.home);
}

/** The public view of a store's keys for `keys.status` and `keys.rotate`: ids and the public key only. */
export function describeKeyStatus(material: KeyMaterial): KeyStatus {
  return {
    source: material.source,
    hmac_key_id: material.hmac.id,
    encryption_key_id: material.encryption.id,
    encryption_key_ids: [...material.encryptionKeys.keys()],
    signing_key_id: material.signing.id,
    signing_public_key: material.signing.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    signing_public_keys: Object.fromEntries(
      [...material.signingPublicKeys].map(([id, key]) => [id, key.export({ type: 'spki', format: 'pem' }).toString()]),
    ),
  };
}
