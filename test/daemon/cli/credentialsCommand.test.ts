import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { ContainerSASPermissions, StorageSharedKeyCredential, generateBlobSASQueryParameters } from '@azure/storage-blob';
import { KeychainDestinationSecrets } from '../../../daemon/export/destinationSecrets.ts';
import { startAzurite, type AzuriteServer } from '../../support/azuriteServer.ts';
import { runCliProcess, startDaemonProcess, type DaemonProcess } from '../../support/daemonProcess.ts';
import { tempDir } from '../../support/tempDir.ts';

// The S3 kind is covered end to end in test/daemon/export/s3Export.test.ts; here the Azure kinds, to Azurite.
describe('ai-audit credentials set --kind azure-key|azure-sas, used by a real daemon against Azurite', () => {
  let azurite: AzuriteServer;
  let home: { path: string; dispose(): Promise<void> };
  let daemon: DaemonProcess;
  const env = { AI_AUDIT_MASTER_KEY: randomBytes(32).toString('base64'), AI_AUDIT_HOME: '' };
  const refs: string[] = [];
  const freshRef = (): string => {
    const ref = `cli-${randomBytes(4).toString('hex')}`;
    refs.push(ref);
    return ref;
  };
  const cli = (args: string[], input?: string) => runCliProcess([...args, '--home', home.path], { env, ...(input === undefined ? {} : { input }) });

  before(async () => {
    azurite = await startAzurite();
    await azurite.createContainer('exports');
    home = await tempDir('credentials-cli');
    daemon = await startDaemonProcess(home.path, env);
  });
  after(async () => {
    const secrets = new KeychainDestinationSecrets();
    for (const ref of refs) await secrets.remove(ref);
    await daemon?.stop();
    await home?.dispose();
    await azurite?.dispose();
  });

  const probe = (ref: string, prefix: string) =>
    cli(['destinations', 'test', '--to', `azure://${azurite.account}/exports/${prefix}`, '--endpoint', azurite.endpoint, '--credentials-ref', ref]);

  test('an account key from stdin gives full rights; the stored item is what was piped', async () => {
    const ref = freshRef();
    const stored = await cli(['credentials', 'set', ref, '--kind', 'azure-key'], `${azurite.accountKey}\n`);
    assert.equal(stored.code, 0, stored.stderr);
    assert.ok(!(stored.stdout + stored.stderr).includes(azurite.accountKey));
    assert.deepEqual(await new KeychainDestinationSecrets().read(ref), { kind: 'azure_key', account_key: azurite.accountKey });
    const result = await probe(ref, 'key');
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /^write: yes$/m);
    assert.match(result.stdout, /^read: yes$/m);
  });

  test('a create/write SAS (pasted with its "?") is stored without it and is a valid write-only destination', async () => {
    const sas = generateBlobSASQueryParameters(
      { containerName: 'exports', permissions: ContainerSASPermissions.parse('cw'), expiresOn: new Date(Date.now() + 3_600_000) },
      new StorageSharedKeyCredential(azurite.account, azurite.accountKey),
    ).toString();
    const ref = freshRef();
    const stored = await cli(['credentials', 'set', ref, '--kind', 'azure-sas'], `?${sas}\n`);
    assert.equal(stored.code, 0, stored.stderr);
    assert.deepEqual(await new KeychainDestinationSecrets().read(ref), { kind: 'azure_sas', sas });
    const result = await probe(ref, 'sas');
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /^write: yes$/m);
    assert.match(result.stdout, /^read: no$/m);
  });

  test('bad input is refused without echo; an unknown kind or action is a usage error', async () => {
    const notBase64 = `not base64 !!! ${randomBytes(4).toString('hex')}`;
    const refused = await cli(['credentials', 'set', freshRef(), '--kind', 'azure-key'], `${notBase64}\n`);
    assert.equal(refused.code, 2);
    assert.ok(!(refused.stdout + refused.stderr).includes(notBase64), refused.stderr);
    assert.equal((await cli(['credentials', 'set', freshRef(), '--kind', 'gcs'], 'x\n')).code, 2);
    assert.equal((await cli(['credentials', 'set', freshRef(), '--kind', 'azure-key'], 'a\nb\n')).code, 2);
    assert.equal((await cli(['credentials', 'list'])).code, 2);
  });
});
