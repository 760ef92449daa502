import { AsyncEntry } from '@napi-rs/keyring';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { KeychainDestinationSecrets, destinationSecretAccount } from '../../../../daemon/export/destinationSecrets.ts';
import { createDestination } from '../../../../daemon/export/destinations/createDestination.ts';
import { bufferBody } from '../../../../daemon/export/destinations/verifiedBody.ts';
import { ExportDestinationError } from '../../../../daemon/export/exportDestination.ts';
import { KEYCHAIN_SERVICE } from '../../../../daemon/keys/keychainKeyStore.ts';
import { DestinationConfig } from '../../../../daemon/protocol/destinations.ts';
import { startAzurite } from '../../../support/azuriteServer.ts';
import type { AzuriteServer } from '../../../support/azuriteServer.ts';
import { S3RVER_KEYS, startS3rver } from '../../../support/s3rverServer.ts';
import type { S3rverServer } from '../../../support/s3rverServer.ts';

function isCode(code: ExportDestinationError['code']): (error: unknown) => boolean {
  return (error: unknown) => error instanceof ExportDestinationError && error.code === code;
}

describe('createDestination with credentials from the OS keychain', () => {
  let s3: S3rverServer;
  let azurite: AzuriteServer;
  const secrets = new KeychainDestinationSecrets();
  const refs: string[] = [];
  const freshRef = (): string => {
    const ref = `create-${randomBytes(6).toString('hex')}`;
    refs.push(ref);
    return ref;
  };

  before(async () => {
    [s3, azurite] = await Promise.all([startS3rver({ buckets: ['exports'] }), startAzurite()]);
    await azurite.createContainer('exports');
  });
  after(async () => {
    for (const ref of refs) {
      await new AsyncEntry(KEYCHAIN_SERVICE, destinationSecretAccount(ref), { linux: { store: 'secret-service' } }).deletePassword();
    }
    await Promise.all([s3.dispose(), azurite.dispose()]);
  });

  test('an S3-compatible destination signs with the stored keys', async () => {
    const ref = freshRef();
    await secrets.store(ref, { kind: 's3', access_key_id: S3RVER_KEYS.accessKeyId, secret_access_key: S3RVER_KEYS.secretAccessKey });
    const config = DestinationConfig.parse({ type: 's3-compatible', endpoint: s3.endpoint, bucket: 'exports', prefix: 'kc', credentials: { source: 'keychain', ref } });
    const destination = await createDestination(config, secrets);
    try {
      assert.equal((await destination.putObject('a.jsonl', bufferBody(Buffer.from('{"seq":1}\n')))).existed, false);
      assert.ok((await s3.storedObjects('exports')).has('kc/a.jsonl'));
    } finally {
      await destination.dispose();
      await destination.dispose();
    }
    // The same keys under an unknown id show that the stored keys are what signs.
    await secrets.store(ref, { kind: 's3', access_key_id: 'UNKNOWNKEYID', secret_access_key: 'x' });
    const denied = await createDestination(config, secrets, { s3: { maxAttempts: 1 } });
    try {
      await assert.rejects(denied.putObject('b.jsonl', bufferBody(Buffer.from('x'))), isCode('access_denied'));
    } finally {
      await denied.dispose();
    }
  });

  test('a GCS destination is gs:// over the S3 XML API', async () => {
    const ref = freshRef();
    await secrets.store(ref, { kind: 's3', access_key_id: S3RVER_KEYS.accessKeyId, secret_access_key: S3RVER_KEYS.secretAccessKey });
    // s3rver stands in for storage.googleapis.com (no GCS emulator is installable here).
    const config = DestinationConfig.parse({ type: 'gcs', endpoint: s3.endpoint, bucket: 'exports', prefix: 'gcs', credentials: { source: 'keychain', ref } });
    const destination = await createDestination(config, secrets);
    try {
      assert.equal(destination.location, 'gs://exports/gcs');
      await destination.putObject('a.jsonl', bufferBody(Buffer.from('{"seq":1}\n')));
      assert.ok((await s3.storedObjects('exports')).has('gcs/a.jsonl'));
    } finally {
      await destination.dispose();
    }
  });

  test('an Azure destination with a stored account key, and one with a stored SAS token', async () => {
    const keyRef = freshRef();
    await secrets.store(keyRef, { kind: 'azure_key', account_key: azurite.accountKey });
    const base = { type: 'azure', account: azurite.account, container: 'exports', endpoint: azurite.endpoint };
    const withKey = await createDestination(DestinationConfig.parse({ ...base, prefix: 'key', credentials: { source: 'keychain', ref: keyRef } }), secrets);
    const probe = await withKey.probe();
    assert.deepEqual([probe.write, probe.read, probe.delete], [true, true, true], probe.detail.join('\n'));
    await withKey.dispose();

    const { ContainerSASPermissions, StorageSharedKeyCredential, generateBlobSASQueryParameters } = await import('@azure/storage-blob');
    const sas = generateBlobSASQueryParameters(
      { containerName: 'exports', permissions: ContainerSASPermissions.parse('cw'), expiresOn: new Date(Date.now() + 3_600_000) },
      new StorageSharedKeyCredential(azurite.account, azurite.accountKey),
    ).toString();
    const sasRef = freshRef();
    await secrets.store(sasRef, { kind: 'azure_sas', sas });
    const withSas = await createDestination(DestinationConfig.parse({ ...base, prefix: 'sas', credentials: { source: 'keychain', ref: sasRef } }), secrets);
    const writeOnly = await withSas.probe();
    assert.deepEqual([writeOnly.write, writeOnly.read, writeOnly.delete], [true, false, false], writeOnly.detail.join('\n'));
    await withSas.dispose();
  });

  test('credentials of the wrong kind, or none under the ref, are refused before any request', async () => {
    const ref = freshRef();
    await secrets.store(ref, { kind: 'azure_sas', sas: 'sp=w&sig=x' });
    const s3Config = DestinationConfig.parse({ type: 's3', bucket: 'exports', credentials: { source: 'keychain', ref } });
    await assert.rejects(createDestination(s3Config, secrets), isCode('invalid_config'));
    const missing = DestinationConfig.parse({ type: 's3', bucket: 'exports', credentials: { source: 'keychain', ref: freshRef() } });
    await assert.rejects(createDestination(missing, secrets), isCode('credentials_missing'));
  });

  test('the folder destination is not built here', async () => {
    const config = DestinationConfig.parse({ type: 'dir', path: '/tmp/exports' });
    await assert.rejects(createDestination(config, secrets), isCode('invalid_config'));
  });
});
