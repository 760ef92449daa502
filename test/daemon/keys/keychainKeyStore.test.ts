import { AsyncEntry } from '@napi-rs/keyring';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { sign, verify } from 'node:crypto';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { decryptField, encryptField } from '../../../daemon/keys/contentCipher.ts';
import { KEYCHAIN_SERVICE, KeychainKeyStore, keychainAccount } from '../../../daemon/keys/keychainKeyStore.ts';
import { AuditError, ErrorCodes } from '../../../daemon/protocol/errors.ts';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const MODULE_URL = new URL('../../../daemon/keys/keychainKeyStore.ts', import.meta.url).href;

function entryFor(account: string): AsyncEntry {
  return new AsyncEntry(KEYCHAIN_SERVICE, account, { linux: { store: 'secret-service' } });
}

let keychainCheck: Promise<void> | undefined;

/**
 * Fails (never skips) when no Secret Service answers: the test runner always provides one, so its absence
 * is a broken setup that must not pass as green.
 */
function requireKeychain(): Promise<void> {
  keychainCheck ??= (async () => {
    const probe = entryFor(`probe:${process.pid}`);
    try {
      await probe.setPassword('probe');
      assert.equal(await probe.getPassword(), 'probe');
      await probe.deletePassword();
    } catch (error: unknown) {
      assert.fail(
        `These tests need a reachable, unlocked Secret Service. Run them with: dbus-run-session -- sh -c ` +
          `'echo -n pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null; node --test --import tsx …' ` +
          `(${error instanceof Error ? error.message : String(error)})`,
      );
    }
  })();
  return keychainCheck;
}

/** A fresh data dir whose keychain item and files are removed after the test. */
async function tempHome(t: TestContext): Promise<string> {
  const home = await mkdtemp(join(tmpdir(), 'keychain-keys-'));
  const account = await keychainAccount(home);
  t.after(async () => {
    await entryFor(account).deletePassword();
    await rm(home, { recursive: true, force: true });
  });
  return home;
}

test('first load creates k1 keys of the right sizes and stores them in the keychain', async (t) => {
  await requireKeychain();
  const home = await tempHome(t);
  const keys = await new KeychainKeyStore(home).load();
  assert.equal(keys.source, 'keychain');
  assert.equal(keys.hmac.id, 'k1');
  assert.equal(keys.encryption.id, 'k1');
  assert.equal(keys.signing.id, 'k1');
  assert.equal(keys.hmac.key.length, 32);
  assert.equal(keys.encryption.key.length, 32);
  assert.notDeepEqual(keys.hmac.key, keys.encryption.key);
  assert.equal(keys.signing.privateKey.asymmetricKeyType, 'ed25519');

  const stored = await entryFor(await keychainAccount(home)).getPassword();
  assert.ok(stored !== null);
  const document = JSON.parse(stored) as { version: number; active: string; keys: Record<string, { created_at: string }> };
  assert.equal(document.version, 1);
  assert.equal(document.active, 'k1');
  assert.deepEqual(Object.keys(document.keys), ['k1']);
  assert.ok(!Number.isNaN(Date.parse(document.keys.k1?.created_at ?? '')));
});

test('keys persist across a new KeychainKeyStore instance and a symlinked path', async (t) => {
  await requireKeychain();
  const home = await tempHome(t);
  const first = await new KeychainKeyStore(home).load();
  const again = await new KeychainKeyStore(home).load();
  assert.deepEqual(again.hmac, first.hmac);
  assert.deepEqual(again.encryption, first.encryption);
  assert.ok(again.signing.publicKey.equals(first.signing.publicKey));

  const link = join(home, 'link');
  await symlink(home, link);
  const viaLink = await new KeychainKeyStore(link).load();
  assert.deepEqual(viaLink.encryption, first.encryption);
});

test('two data dirs get different keys', async (t) => {
  await requireKeychain();
  const [homeA, homeB] = [await tempHome(t), await tempHome(t)];
  assert.notEqual(await keychainAccount(homeA), await keychainAccount(homeB));
  const a = await new KeychainKeyStore(homeA).load();
  const b = await new KeychainKeyStore(homeB).load();
  assert.notDeepEqual(a.hmac.key, b.hmac.key);
  assert.notDeepEqual(a.encryption.key, b.encryption.key);
  assert.ok(!a.signing.publicKey.equals(b.signing.publicKey));
});

test('rotation changes the active ids and keeps old keys for reading and verifying', async (t) => {
  await requireKeychain();
  const home = await tempHome(t);
  const store = new KeychainKeyStore(home);
  const first = await store.load();
  const field = encryptField(first.encryption.key, 'old content', 'e1:input');
  const signature = sign(null, Buffer.from('checkpoint 1'), first.signing.privateKey);

  const second = await store.rotate();
  assert.equal(second.hmac.id, 'k2');
  assert.equal(second.encryption.id, 'k2');
  assert.equal(second.signing.id, 'k2');
  assert.notDeepEqual(second.encryption.key, first.encryption.key);
  assert.notDeepEqual(second.hmac.key, first.hmac.key);
  assert.deepEqual([...second.encryptionKeys.keys()], ['k1', 'k2']);
  assert.deepEqual([...second.hmacKeys.keys()], ['k1', 'k2']);
  assert.deepEqual([...second.signingPublicKeys.keys()], ['k1', 'k2']);

  // A new instance (a restart) sees the rotation, and the old key still decrypts and verifies.
  const reloaded = await new KeychainKeyStore(home).load();
  assert.equal(reloaded.encryption.id, 'k2');
  const oldKey = reloaded.encryptionKeys.get('k1');
  assert.ok(oldKey);
  assert.equal(decryptField(oldKey, field, 'e1:input'), 'old content');
  const oldPublic = reloaded.signingPublicKeys.get('k1');
  assert.ok(oldPublic);
  assert.ok(verify(null, Buffer.from('checkpoint 1'), oldPublic, signature));
  assert.ok(!verify(null, Buffer.from('checkpoint 1'), reloaded.signing.publicKey, signature));

  const third = await store.rotate();
  assert.equal(third.encryption.id, 'k3');
  assert.deepEqual([...third.encryptionKeys.keys()], ['k1', 'k2', 'k3']);
});

test('concurrent load and rotations on one instance do not lose a generation', async (t) => {
  await requireKeychain();
  const home = await tempHome(t);
  const store = new KeychainKeyStore(home);
  const results = await Promise.all([store.load(), store.rotate(), store.rotate()]);
  assert.deepEqual(results.map((keys) => keys.encryption.id), ['k1', 'k2', 'k3']);
  const reloaded = await new KeychainKeyStore(home).load();
  for (const keys of results) assert.deepEqual(reloaded.encryptionKeys.get(keys.encryption.id), keys.encryption.key);
});

test('a signature made with the signing key verifies with the listed public key', async (t) => {
  await requireKeychain();
  const home = await tempHome(t);
  const keys = await new KeychainKeyStore(home).load();
  const message = Buffer.from('{"seq":42,"hash":"00"}');
  const signature = sign(null, message, keys.signing.privateKey);
  const listed = keys.signingPublicKeys.get(keys.signing.id);
  assert.ok(listed);
  assert.ok(verify(null, message, listed, signature));
});

test('an unreadable keychain item fails with keychain_unavailable and is left untouched', async (t) => {
  await requireKeychain();
  const home = await tempHome(t);
  const entry = entryFor(await keychainAccount(home));
  for (const junk of ['not json {secret-ish}', '{"version":2}', '{"version":1,"active":"k2","keys":{}}']) {
    await entry.setPassword(junk);
    await assert.rejects(new KeychainKeyStore(home).load(), (error: unknown) => {
      assert.ok(error instanceof AuditError);
      assert.equal(error.code, ErrorCodes.KeychainUnavailable);
      assert.ok(!error.message.includes('secret-ish'));
      return true;
    });
    await assert.rejects(new KeychainKeyStore(home).rotate(), AuditError);
    assert.equal(await entry.getPassword(), junk);
  }
});

const execFileAsync = promisify(execFile);

/** Loads a KeychainKeyStore in a child process with the given D-Bus address (undefined: none at all). */
async function loadWithoutSessionBus(home: string, busAddress: string | undefined): Promise<Record<string, unknown>> {
  const env: NodeJS.ProcessEnv = { ...process.env, KEYS_MODULE: MODULE_URL, KEYS_HOME: home };
  delete env.DBUS_SESSION_BUS_ADDRESS;
  if (busAddress !== undefined) env.DBUS_SESSION_BUS_ADDRESS = busAddress;
  const script = `
    const { KeychainKeyStore } = await import(process.env.KEYS_MODULE);
    try {
      await new KeychainKeyStore(process.env.KEYS_HOME).load();
      console.log(JSON.stringify({ loaded: true }));
    } catch (error) {
      console.log(JSON.stringify({ name: error.name, code: error.code, message: error.message }));
    }`;
  const { stdout } = await execFileAsync(process.execPath, ['--import', 'tsx', '--input-type=module', '--eval', script], {
    cwd: REPO_ROOT,
    env,
    timeout: 20_000,
  });
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as Record<string, unknown>;
}

test('without a D-Bus session the keychain store fails with keychain_unavailable, not a crash', async (t) => {
  const home = await mkdtemp(join(tmpdir(), 'keychain-nobus-'));
  t.after(() => rm(home, { recursive: true, force: true }));
  for (const busAddress of [undefined, `unix:path=${join(home, 'no-such-socket')}`]) {
    const result = await loadWithoutSessionBus(home, busAddress);
    assert.equal(result.name, 'AuditError', JSON.stringify(result));
    assert.equal(result.code, ErrorCodes.KeychainUnavailable);
    assert.match(String(result.message), /gnome-keyring/);
    assert.match(String(result.message), /D-Bus/);
    assert.match(String(result.message), /AI_AUDIT_MASTER_KEY/);
    assert.match(String(result.message), /openssl rand -base64 32/);
  }
});
