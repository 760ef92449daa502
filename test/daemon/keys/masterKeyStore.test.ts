import assert from 'node:assert/strict';
import { createPublicKey, randomBytes, sign, verify } from 'node:crypto';
import { test } from 'node:test';
import { decryptField, encryptField } from '../../../daemon/keys/contentCipher.ts';
import { MasterKeyStore } from '../../../daemon/keys/masterKeyStore.ts';
import type { KeyGenerationCounter } from '../../../daemon/keys/masterKeyStore.ts';
import { AuditError, ErrorCodes } from '../../../daemon/protocol/errors.ts';
import type { IngestAck } from '../../../daemon/protocol/messages.ts';
import { runCliProcess, startDaemonProcess } from '../../support/daemonProcess.ts';
import { tempDir } from '../../support/tempDir.ts';

/** Bytes 0x00…0x1f. The expected values below come from an independent HKDF and `openssl pkey`. */
const MASTER = 'AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=';

function counter(initial = 0): KeyGenerationCounter & { value: number; writes: number[] } {
  const state = {
    value: initial,
    writes: [] as number[],
    read: async () => state.value,
    write: async (generation: number) => {
      state.value = generation;
      state.writes.push(generation);
    },
  };
  return state;
}

test('first load is generation 1 and derives the documented HKDF keys', async () => {
  const generation = counter();
  const keys = await new MasterKeyStore({ masterKey: MASTER, generation }).load();
  assert.equal(keys.source, 'master-key');
  assert.deepEqual(generation.writes, [1]);
  assert.equal(keys.hmac.id, 'm1');
  assert.equal(keys.encryption.id, 'm1');
  assert.equal(keys.signing.id, 'm1');
  assert.equal(keys.hmac.key.toString('hex'), '19334c0deba599761623618d28e8818512f229ac482e90618917ad1f73925263');
  assert.equal(keys.encryption.key.toString('hex'), 'e67c10f31e410e5ca188784262d83feeb2e09d91fb50e5b7856ad4bc5ad9a846');
  const rawPublic = keys.signing.publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  assert.equal(rawPublic.toString('hex'), 'adbc55e60ddf0896e49666ca1dce75a4077f1aeec046dfc78115a92ed3d4ab5c');
});

test('the same master key and generation give the same keys; another master key gives others', async () => {
  const a = await new MasterKeyStore({ masterKey: MASTER, generation: counter(3) }).load();
  const b = await new MasterKeyStore({ masterKey: ` ${MASTER}\n`, generation: counter(3) }).load();
  const other = await new MasterKeyStore({ masterKey: randomBytes(32).toString('base64'), generation: counter(3) }).load();
  assert.deepEqual(a.hmac, b.hmac);
  assert.deepEqual(a.encryption, b.encryption);
  assert.ok(a.signing.publicKey.equals(b.signing.publicKey));
  assert.notDeepEqual(a.hmac.key, other.hmac.key);
  assert.notDeepEqual(a.encryption.key, other.encryption.key);
  assert.ok(!a.signing.publicKey.equals(other.signing.publicKey));
  assert.notDeepEqual(a.hmac.key, a.encryption.key);
});

test('rotation makes generation n+1 active and keeps every older one readable', async () => {
  const generation = counter();
  const store = new MasterKeyStore({ masterKey: MASTER, generation });
  const first = await store.load();
  const field = encryptField(first.encryption.key, 'old content', 'e1:input');
  const signature = sign(null, Buffer.from('checkpoint'), first.signing.privateKey);

  const second = await store.rotate();
  assert.equal(generation.value, 2);
  assert.equal(second.encryption.id, 'm2');
  assert.equal(second.hmac.id, 'm2');
  assert.equal(second.signing.id, 'm2');
  assert.notDeepEqual(second.encryption.key, first.encryption.key);
  assert.deepEqual([...second.encryptionKeys.keys()], ['m1', 'm2']);
  assert.deepEqual([...second.hmacKeys.keys()], ['m1', 'm2']);
  assert.deepEqual([...second.signingPublicKeys.keys()], ['m1', 'm2']);

  const oldKey = second.encryptionKeys.get('m1');
  assert.ok(oldKey);
  assert.equal(decryptField(oldKey, field, 'e1:input'), 'old content');
  const oldPublic = second.signingPublicKeys.get('m1');
  assert.ok(oldPublic);
  assert.ok(verify(null, Buffer.from('checkpoint'), oldPublic, signature));
});

test('a restarted daemon reads the stored generation after `keys rotate`: new keys stay active, old content decrypts', async () => {
  const home = await tempDir('master-restart');
  const env = { AI_AUDIT_MASTER_KEY: MASTER, AI_AUDIT_HOME: '' };
  const cli = (args: string[]) => runCliProcess([...args, '--home', home.path], { env });
  let daemon = await startDaemonProcess(home.path, env);
  try {
    let client = await daemon.connect();
    await client.request('settings.set', { content_mode: 'encrypted' });
    const old = (await client.request('ingest', { events: [{ kind: 'chat.input', input: 'under m1' }] })).acks[0] as IngestAck;
    await client.dispose();
    const rotated = await cli(['keys', 'rotate', '--json']);
    assert.equal(rotated.code, 0, rotated.stderr);
    assert.equal((JSON.parse(rotated.stdout) as { encryption_key_id: string }).encryption_key_id, 'm2');
    assert.equal(await daemon.stop(), 0);

    // A new process: nothing in memory survives, only state.json and the master key.
    daemon = await startDaemonProcess(home.path, env);
    client = await daemon.connect();
    const status = await client.request('keys.status', {});
    assert.equal(status.encryption_key_id, 'm2');
    assert.equal(status.signing_key_id, 'm2');
    const fresh = (await client.request('ingest', { events: [{ kind: 'chat.input', input: 'under m2' }] })).acks[0] as IngestAck;
    assert.equal((await client.request('get', { seq: fresh.seq })).entry.content.key_id, 'm2');
    assert.equal((await client.request('decrypt', { seq: old.seq })).input, 'under m1');
    assert.equal((await client.request('decrypt', { seq: fresh.seq })).input, 'under m2');
    assert.equal((await client.request('verify', {})).ok, true);
    await client.dispose();
  } finally {
    await daemon.stop();
    await home.dispose();
  }
});

test('concurrent rotations each get their own generation', async () => {
  const generation = counter(1);
  const store = new MasterKeyStore({ masterKey: MASTER, generation });
  const ids = (await Promise.all([store.rotate(), store.rotate(), store.rotate()])).map((keys) => keys.encryption.id);
  assert.deepEqual(ids, ['m2', 'm3', 'm4']);
  assert.equal(generation.value, 4);
});

test('a signature made with the signing key verifies with its public key (SPKI PEM)', async () => {
  const keys = await new MasterKeyStore({ masterKey: MASTER, generation: counter() }).load();
  const pem = keys.signing.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const message = Buffer.from('{"seq":1,"hash":"ab"}');
  const signature = sign(null, message, keys.signing.privateKey);
  assert.ok(verify(null, message, createPublicKey(pem), signature));
  assert.ok(!verify(null, Buffer.from('{"seq":2,"hash":"ab"}'), createPublicKey(pem), signature));
});

test('a bad master key fails with keychain_unavailable and never echoes the value', () => {
  const cases = [
    '',
    '   ',
    randomBytes(16).toString('base64'),
    randomBytes(31).toString('base64'),
    randomBytes(33).toString('base64'),
    randomBytes(64).toString('base64'),
    randomBytes(32).toString('hex'),
    `${randomBytes(32).toString('base64').slice(0, 40)}!!!=`,
    randomBytes(32).toString('base64url'),
    'correct horse battery staple correct horse battery',
  ];
  for (const masterKey of cases) {
    assert.throws(
      () => new MasterKeyStore({ masterKey, generation: counter() }),
      (error: unknown) => {
        assert.ok(error instanceof AuditError);
        assert.equal(error.code, ErrorCodes.KeychainUnavailable);
        assert.match(error.message, /AI_AUDIT_MASTER_KEY/);
        assert.match(error.message, /openssl rand -base64 32/);
        if (masterKey.trim() !== '') assert.ok(!error.message.includes(masterKey.trim()), 'message repeats the value');
        return true;
      },
      `accepted ${JSON.stringify(masterKey)}`,
    );
  }
});

test('a corrupt stored generation fails with keychain_unavailable', async () => {
  for (const bad of [-1, 1.5, Number.NaN, 1e9]) {
    await assert.rejects(
      new MasterKeyStore({ masterKey: MASTER, generation: counter(bad) }).load(),
      (error: unknown) => error instanceof AuditError && error.code === ErrorCodes.KeychainUnavailable,
    );
  }
});
