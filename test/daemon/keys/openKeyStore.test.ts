import assert from 'node:assert/strict';
import { createPublicKey, sign, verify } from 'node:crypto';
import { test } from 'node:test';
import { KeychainKeyStore } from '../../../daemon/keys/keychainKeyStore.ts';
import { MasterKeyStore } from '../../../daemon/keys/masterKeyStore.ts';
import { describeKeyStatus, openKeyStore } from '../../../daemon/keys/openKeyStore.ts';
import { AuditError, ErrorCodes } from '../../../daemon/protocol/errors.ts';

const MASTER = 'AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=';

function counter(): { read(): Promise<number>; write(n: number): Promise<void> } {
  let value = 0;
  return { read: async () => value, write: async (n) => void (value = n) };
}

test('AI_AUDIT_MASTER_KEY selects the master-key store, otherwise the keychain', () => {
  const withMaster = openKeyStore({ home: '/nonexistent', env: { AI_AUDIT_MASTER_KEY: MASTER }, generation: counter() });
  assert.ok(withMaster instanceof MasterKeyStore);
  assert.equal(withMaster.source, 'master-key');
  const withoutMaster = openKeyStore({ home: '/nonexistent', env: {}, generation: counter() });
  assert.ok(withoutMaster instanceof KeychainKeyStore);
  assert.equal(withoutMaster.source, 'keychain');
});

test('a set but empty AI_AUDIT_MASTER_KEY fails instead of falling back to the keychain', () => {
  assert.throws(
    () => openKeyStore({ home: '/nonexistent', env: { AI_AUDIT_MASTER_KEY: '' }, generation: counter() }),
    (error: unknown) => error instanceof AuditError && error.code === ErrorCodes.KeychainUnavailable,
  );
});

test('describeKeyStatus lists ids and a PEM public key that verifies the signing key', async () => {
  const store = openKeyStore({ home: '/nonexistent', env: { AI_AUDIT_MASTER_KEY: MASTER }, generation: counter() });
  await store.load();
  const status = describeKeyStatus(await store.rotate());
  assert.equal(status.source, 'master-key');
  assert.equal(status.hmac_key_id, 'm2');
  assert.equal(status.encryption_key_id, 'm2');
  assert.deepEqual(status.encryption_key_ids, ['m1', 'm2']);
  assert.equal(status.signing_key_id, 'm2');
  assert.match(status.signing_public_key, /^-----BEGIN PUBLIC KEY-----\n[\s\S]+\n-----END PUBLIC KEY-----\n$/);

  const keys = await store.load();
  const signature = sign(null, Buffer.from('checkpoint'), keys.signing.privateKey);
  assert.ok(verify(null, Buffer.from('checkpoint'), createPublicKey(status.signing_public_key), signature));
  assert.ok(!JSON.stringify(status).includes(keys.encryption.key.toString('base64')));
});
