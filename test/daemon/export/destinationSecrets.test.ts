import { AsyncEntry } from '@napi-rs/keyring';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { KeychainDestinationSecrets, destinationSecretAccount } from '../../../daemon/export/destinationSecrets.ts';
import type { DestinationSecret } from '../../../daemon/export/destinationSecrets.ts';
import { ExportDestinationError } from '../../../daemon/export/exportDestination.ts';
import { KEYCHAIN_SERVICE } from '../../../daemon/keys/keychainKeyStore.ts';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const MODULE_URL = new URL('../../../daemon/export/destinationSecrets.ts', import.meta.url).href;

/** A ref unique to this test, whose keychain item is removed afterwards. */
function freshRef(t: TestContext): string {
  const ref = `test-${randomBytes(6).toString('hex')}`;
  t.after(async () => {
    await new AsyncEntry(KEYCHAIN_SERVICE, destinationSecretAccount(ref), { linux: { store: 'secret-service' } }).deletePassword();
  });
  return ref;
}

function isCode(code: ExportDestinationError['code']): (error: unknown) => boolean {
  return (error: unknown) => error instanceof ExportDestinationError && error.code === code;
}

test('each kind of destination credentials round-trips through the keychain, one item per ref', async (t) => {
  const secrets = new KeychainDestinationSecrets();
  const kinds: DestinationSecret[] = [
    { kind: 's3', access_key_id: 'AKIAEXAMPLE', secret_access_key: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', session_token: 'FwoGZXIvYXdzEXAMPLE' },
    { kind: 'azure_key', account_key: randomBytes(64).toString('base64') },
    { kind: 'azure_sas', sas: 'sv=2025-01-05&ss=b&srt=co&sp=cw&se=2030-01-01T00%3A00%3A00Z&sig=abc%3D' },
  ];
  for (const secret of kinds) {
    const ref = freshRef(t);
    await secrets.store(ref, secret);
    assert.deepEqual(await secrets.read(ref), secret);
    const raw = await new AsyncEntry(KEYCHAIN_SERVICE, `destination:${ref}`, { linux: { store: 'secret-service' } }).getPassword();
    assert.deepEqual(JSON.parse(raw ?? 'null'), secret);
  }
});

test('a missing ref is credentials_missing and names the ref; remove says whether there was one', async (t) => {
  const secrets = new KeychainDestinationSecrets();
  const ref = freshRef(t);
  await assert.rejects(secrets.read(ref), (error: unknown) => isCode('credentials_missing')(error) && (error as Error).message.includes(ref));
  await secrets.store(ref, { kind: 'azure_sas', sas: 'sp=w&sig=x' });
  assert.equal(await secrets.remove(ref), true);
  assert.equal(await secrets.remove(ref), false);
  await assert.rejects(secrets.read(ref), isCode('credentials_missing'));
});

test('invalid credentials are refused without echoing them; a bad ref is invalid_config', async (t) => {
  const secrets = new KeychainDestinationSecrets();
  const ref = freshRef(t);
  const secret = 'not base64 at all !!! SECRET';
  await assert.rejects(secrets.store(ref, { kind: 'azure_key', account_key: secret }), (error: unknown) => {
    assert.ok(isCode('invalid_config')(error));
    assert.ok(!(error as Error).message.includes(secret));
    return true;
  });
  await assert.rejects(secrets.read('../escape'), isCode('invalid_config'));
});

test('an item this version cannot read is reported without quoting it', async (t) => {
  const ref = freshRef(t);
  const junk = '{"kind":"s3","access_key_id":"AKIA","secret_access_key":"TOPSECRETVALUE","extra":1';
  await new AsyncEntry(KEYCHAIN_SERVICE, `destination:${ref}`, { linux: { store: 'secret-service' } }).setPassword(junk);
  await assert.rejects(new KeychainDestinationSecrets().read(ref), (error: unknown) => {
    assert.ok(isCode('credentials_missing')(error));
    assert.ok(!(error as Error).message.includes('TOPSECRETVALUE'));
    assert.match((error as Error).message, /Store the credentials again/);
    return true;
  });
});

test('without a D-Bus session reading fails with advice (a keychain, or the default chain), not a crash', async () => {
  const env: NodeJS.ProcessEnv = { ...process.env, SECRETS_MODULE: MODULE_URL };
  delete env.DBUS_SESSION_BUS_ADDRESS;
  const script = `
    const { KeychainDestinationSecrets } = await import(process.env.SECRETS_MODULE);
    try {
      await new KeychainDestinationSecrets().read('some-ref');
      console.log(JSON.stringify({ read: true }));
    } catch (error) {
      console.log(JSON.stringify({ name: error.name, code: error.code, message: error.message }));
    }`;
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '--eval', script], {
    cwd: REPO_ROOT,
    env,
    timeout: 20_000,
  });
  const result = JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as Record<string, unknown>;
  assert.equal(result.name, 'ExportDestinationError', JSON.stringify(result));
  assert.equal(result.code, 'credentials_missing');
  assert.match(String(result.message), /D-Bus/);
  assert.match(String(result.message), /AWS_ACCESS_KEY_ID/);
  assert.match(String(result.message), /workload identity/);
});
