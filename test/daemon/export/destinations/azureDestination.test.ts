import { ContainerSASPermissions, StorageSharedKeyCredential, generateBlobSASQueryParameters } from '@azure/storage-blob';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { AzureDestination } from '../../../../daemon/export/destinations/azureDestination.ts';
import type { AzureAuth, AzureConfig } from '../../../../daemon/export/destinations/azureDestination.ts';
import { bufferBody } from '../../../../daemon/export/destinations/verifiedBody.ts';
import type { ExportDestination, ObjectInfo } from '../../../../daemon/export/exportDestination.ts';
import { DestinationConfig } from '../../../../daemon/protocol/destinations.ts';
import { startAzurite } from '../../../support/azuriteServer.ts';
import type { AzuriteServer } from '../../../support/azuriteServer.ts';
import { rejectsWith } from '../../../support/rejectsWith.ts';
import { sha256, streamBody } from '../../../support/streamBodies.ts';

const MiB = 1024 * 1024;

async function all(iterable: AsyncIterable<ObjectInfo>): Promise<ObjectInfo[]> {
  const out: ObjectInfo[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

async function bytes(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe('AzureDestination against Azurite', () => {
  let azurite: AzuriteServer;
  const open: ExportDestination[] = [];
  const config = (container: string, prefix = ''): AzureConfig => {
    const parsed = DestinationConfig.parse({
      type: 'azure',
      account: azurite.account,
      container,
      prefix,
      endpoint: azurite.endpoint,
      credentials: { source: 'keychain', ref: 'azurite' },
    });
    assert.ok(parsed.type === 'azure');
    return parsed;
  };
  const destination = (container: string, prefix = '', auth: AzureAuth = { kind: 'key', accountKey: azurite.accountKey }, maxTries?: number): AzureDestination => {
    const created = new AzureDestination(config(container, prefix), auth, { blockSize: 4 * MiB, ...(maxTries !== undefined && { maxTries }) });
    open.push(created);
    return created;
  };
  const sas = (container: string, permissions: string): string =>
    generateBlobSASQueryParameters(
      { containerName: container, permissions: ContainerSASPermissions.parse(permissions), expiresOn: new Date(Date.now() + 3_600_000) },
      new StorageSharedKeyCredential(azurite.account, azurite.accountKey),
    ).toString();

  before(async () => {
    azurite = await startAzurite();
    for (const name of ['exports', 'probe', 'big']) await azurite.createContainer(name);
  });
  after(async () => {
    for (const created of open) await created.dispose();
    await azurite.dispose();
  });

  test('puts, gets and lists blobs under the prefix, with sha256 metadata; never overwrites', async () => {
    const target = destination('exports', 'team-a');
    assert.equal(target.location, 'azure://devstoreaccount1/exports/team-a');
    const body = bufferBody(Buffer.from('{"seq":1}\n{"seq":2}\n'), 'application/x-ndjson');
    assert.equal((await target.putObject('2026/12/01/1-2.jsonl', body)).existed, false);
    await target.putObject('2026/12/01/manifest.json', bufferBody(Buffer.from('{}')));
    assert.equal((await bytes(await target.getObject('2026/12/01/1-2.jsonl'))).toString('utf8'), '{"seq":1}\n{"seq":2}\n');
    assert.deepEqual(await all(target.list('2026/')), [
      { key: '2026/12/01/1-2.jsonl', size: 20 },
      { key: '2026/12/01/manifest.json', size: 2 },
    ]);
    const properties = await azurite.service.getContainerClient('exports').getBlobClient('team-a/2026/12/01/1-2.jsonl').getProperties();
    assert.equal(properties.metadata?.sha256, body.sha256);
    assert.equal(properties.contentType, 'application/x-ndjson');

    assert.equal((await target.putObject('2026/12/01/1-2.jsonl', body)).existed, true);
    await rejectsWith(target.putObject('2026/12/01/1-2.jsonl', bufferBody(Buffer.from('{"seq":3}\n'))), 'object_exists');
    assert.equal((await azurite.storedBlobs('exports')).get('team-a/2026/12/01/1-2.jsonl')?.toString('utf8'), '{"seq":1}\n{"seq":2}\n');
    await rejectsWith(target.getObject('nothing.jsonl'), 'not_found');
  });

  test('a stream body of several blocks is stored byte for byte', async () => {
    const body = await streamBody(13 * MiB + 7, 'azure-blocks');
    const target = destination('big');
    assert.equal((await target.putObject('large.jsonl', body)).existed, false);
    const stored = (await azurite.storedBlobs('big')).get('large.jsonl');
    assert.ok(stored !== undefined);
    assert.equal(stored.length, body.size);
    assert.equal(sha256(stored), body.sha256);
  });

  test('a write that loses the race to an existing blob (If-None-Match) is compared, not overwritten', async () => {
    const target = destination('exports', 'race');
    const body = bufferBody(Buffer.from('{"seq":9}\n'), 'application/x-ndjson');
    // Written behind the destination's back between its look and its write: skip the look by writing
    // through a write-only SAS, which cannot read properties either.
    await azurite.service
      .getContainerClient('exports')
      .getBlockBlobClient('race/9-9.jsonl')
      .upload(Buffer.from('other'), 5);
    const writeOnly = destination('exports', 'race', { kind: 'sas', sas: sas('exports', 'cw') });
    assert.equal((await writeOnly.putObject('9-9.jsonl', body)).existed, true, 'cannot compare: the manifest decides');
    await rejectsWith(target.putObject('9-9.jsonl', body), 'object_exists');
    assert.equal((await azurite.storedBlobs('exports')).get('race/9-9.jsonl')?.toString('utf8'), 'other');
  });

  test('probe with the account key: write, read and delete allowed, nothing left behind', async () => {
    const probe = await destination('probe', 'full').probe();
    assert.deepEqual({ write: probe.write, read: probe.read, delete: probe.delete }, { write: true, read: true, delete: true }, probe.detail.join('\n'));
    assert.equal((await azurite.storedBlobs('probe')).size, 0);
  });

  test('probe with a write-only SAS reports write only, which is not a failure', async () => {
    const probe = await destination('probe', 'write-only', { kind: 'sas', sas: sas('probe', 'cw') }).probe();
    assert.deepEqual({ write: probe.write, read: probe.read, delete: probe.delete }, { write: true, read: false, delete: false }, probe.detail.join('\n'));
    assert.deepEqual([...(await azurite.storedBlobs('probe')).keys()], [`write-only/${probe.key}`]);
  });

  test('a wrong account key is access_denied, and no key appears in the message', async () => {
    const wrongKey = Buffer.from('not the key of this account, but 64 bytes long to look real.....').toString('base64');
    const target = destination('exports', '', { kind: 'key', accountKey: wrongKey }, 1);
    const error = await rejectsWith(target.putObject('denied.jsonl', bufferBody(Buffer.from('x'))), 'access_denied');
    for (const text of [error.message, String(error.cause)]) {
      assert.ok(!text.includes(wrongKey) && !text.includes(azurite.accountKey), 'no key in the error');
    }
    const probe = await target.probe();
    assert.equal(probe.write, false);
  });

  test('a SAS token never appears in an error message', async () => {
    const token = sas('exports', 'r');
    const target = destination('exports', '', { kind: 'sas', sas: token }, 1);
    const error = await rejectsWith(target.putObject('read-only.jsonl', bufferBody(Buffer.from('x'))), 'access_denied');
    const signature = new URLSearchParams(token).get('sig') ?? '';
    assert.ok(signature.length > 10);
    for (const text of [error.message, String(error.cause), error.stack ?? '']) {
      assert.ok(!text.includes(signature) && !text.includes(encodeURIComponent(signature)), 'no SAS signature in the error');
    }
  });

  test('a missing container is no_such_bucket', async () => {
    const target = destination('missing-container');
    const error = await rejectsWith(target.putObject('a.jsonl', bufferBody(Buffer.from('x'))), 'no_such_bucket');
    assert.match(error.message, /Create it/);
    await rejectsWith(all(target.list('')), 'no_such_bucket');
  });
});
