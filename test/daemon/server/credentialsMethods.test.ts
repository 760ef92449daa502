import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { DaemonClient } from '../../../daemon/client/daemonClient.ts';
import { AuditError, ErrorCodes } from '../../../daemon/protocol/errors.ts';
import { DAEMON_LOG_FILE } from '../../../daemon/protocol/messages.ts';
import { STATE_FILE } from '../../../daemon/state/daemonState.ts';
import type { DaemonProcess } from '../../support/daemonProcess.ts';
import { startDaemonSuite, type DaemonSuite } from '../../support/daemonSuite.ts';
import { filesUnder } from '../../support/filesUnder.ts';
import { NO_AWS_DEFAULT_CREDENTIALS } from '../../support/noAwsDefaultCredentials.ts';
import { S3RVER_KEYS, startS3rver, type S3rverServer } from '../../support/s3rverServer.ts';

const BUCKET = 'audit';

describe('credentials.set and credentials.remove: keys into the daemon keychain, used by exports, never shown', () => {
  let s3: S3rverServer;
  let suite: DaemonSuite | undefined;
  let home: string;
  let daemon: DaemonProcess;
  let client: DaemonClient;
  const ref = `creds-${randomBytes(4).toString('hex')}`;
  // s3rver checks the key id only, so each secret is unique to this run and can be searched for everywhere.
  const secret = `secret-${randomBytes(16).toString('hex')}`;
  const rejectedSecret = `rejected-${randomBytes(16).toString('hex')}`;
  const unknownFieldSecret = `unknown-${randomBytes(16).toString('hex')}`;
  const errorTexts: string[] = [];
  // No default chain: the keychain ref is the only way to credentials.
  const env = {
    AI_AUDIT_MASTER_KEY: randomBytes(32).toString('base64'),
    AI_AUDIT_HOME: '',
    ...NO_AWS_DEFAULT_CREDENTIALS,
  };
  const config = () => ({
    type: 's3-compatible' as const,
    bucket: BUCKET,
    endpoint: s3.endpoint,
    region: 'us-east-1',
    credentials: { source: 'keychain' as const, ref },
  });
  /** The AuditError a request fails with; its message and data are kept for the search for secrets. */
  const failure = async (work: Promise<unknown>): Promise<AuditError> => {
    try {
      await work;
    } catch (error: unknown) {
      assert.ok(error instanceof AuditError, String(error));
      errorTexts.push(error.message, JSON.stringify(error.toWire()));
      return error;
    }
    assert.fail('the request succeeded');
  };

  before(async () => {
    s3 = await startS3rver({ buckets: [BUCKET] });
    suite = await startDaemonSuite('credentials', env);
    ({ home, daemon, client } = suite);
    await client.request('ingest', { events: Array.from({ length: 20 }, (_, i) => ({ kind: 'chat.input', input: `prompt ${i}`, model: 'gpt-4o' })) });
  });
  after(async () => {
    await client?.request('credentials.remove', { ref }).catch(() => undefined);
    await suite?.dispose();
    await s3?.dispose();
  });

  test('keys set through the daemon export to s3rver; the audit.credentials entry names the ref and kind only', async () => {
    const set = await client.request('credentials.set', { ref, kind: 's3', values: { access_key_id: S3RVER_KEYS.accessKeyId, secret_access_key: secret } });
    assert.equal(set.ok, true);
    const entry = (await client.request('get', { seq: set.audit_seq })).entry;
    assert.equal(entry.kind, 'audit.credentials');
    assert.deepEqual(entry.audit, { action: 'set', ref, kind: 's3' });
    assert.ok(!JSON.stringify(entry).includes(secret));

    const probe = await client.request('destinations.test', { config: config() });
    assert.equal(probe.write, true, probe.detail.join(' '));
    await client.request('destinations.add', { name: 'bucket', config: config() });
    const run = await client.request('export.run', { destination: 'bucket', prefix: 'once', layout: 'hive' });
    assert.equal(run.status, 'succeeded');
    const keys = [...(await s3.storedObjects(BUCKET)).keys()].filter((k) => k.startsWith('once/'));
    assert.ok(keys.some((k) => k.endsWith('.jsonl')), keys.join('\n'));
    assert.ok(run.rows >= 20);
  });

  test('invalid values fail with invalid_config naming the field, not its value, and nothing is recorded', async () => {
    const before = (await client.request('health', {})).last_seq;
    const badKey = await failure(client.request('credentials.set', { ref, kind: 'azure_key', values: { account_key: `${rejectedSecret}!` } }));
    assert.equal(badKey.code, ErrorCodes.DestinationError);
    assert.equal((badKey.data as { reason?: string } | undefined)?.reason, 'invalid_config');
    assert.match(badKey.message, /account_key/);
    const extra = await failure(
      client.request('credentials.set', { ref, kind: 's3', values: { access_key_id: 'S3RVER', secret_access_key: secret, password: unknownFieldSecret } }),
    );
    assert.equal((extra.data as { reason?: string } | undefined)?.reason, 'invalid_config');
    const missing = await failure(client.request('credentials.set', { ref, kind: 's3', values: { access_key_id: rejectedSecret } }));
    assert.match(missing.message, /secret_access_key/);
    assert.equal((await client.request('health', {})).last_seq, before, 'no audit.credentials entry for a set that was refused');
    // The keys set before still work.
    assert.equal((await client.request('destinations.test', { config: config() })).write, true);
  });

  test('a wrong key id fails the export with a destination error that does not echo the secret', async () => {
    const otherRef = `${ref}-wrong`;
    await client.request('credentials.set', { ref: otherRef, kind: 's3', values: { access_key_id: 'NOT-S3RVER', secret_access_key: rejectedSecret } });
    const denied = await failure(
      client.request('export.run', { destination: { ...config(), credentials: { source: 'keychain', ref: otherRef } }, prefix: 'denied' }),
    );
    assert.equal(denied.code, ErrorCodes.DestinationError);
    const removed = await client.request('credentials.remove', { ref: otherRef });
    assert.equal(removed.removed, true);
  });

  test('credentials.remove deletes the keys (recorded), a second remove finds none, and exports then say what to do', async () => {
    const removed = await client.request('credentials.remove', { ref });
    assert.equal(removed.removed, true);
    const entry = (await client.request('get', { seq: removed.audit_seq })).entry;
    assert.deepEqual(entry.audit, { action: 'remove', ref });
    assert.equal((await client.request('credentials.remove', { ref })).removed, false);
    const missing = await failure(client.request('export.run', { destination: 'bucket', prefix: 'after-remove' }));
    assert.equal(missing.code, ErrorCodes.DestinationError);
    assert.equal((missing.data as { reason?: string } | undefined)?.reason, 'credentials_missing');
  });

  test('no secret in state.json, daemon.log, the daemon output, any entry, error or file of the data dir', async () => {
    const state = await readFile(join(home, STATE_FILE), 'utf8');
    const log = await readFile(join(home, DAEMON_LOG_FILE), 'utf8').catch(() => '');
    const entries = JSON.stringify((await client.request('query', { limit: 1000 })).entries);
    const texts: Array<[string, string]> = [
      ['state.json', state],
      ['daemon.log', log],
      ['daemon output', daemon.output()],
      ['entries', entries],
      ['errors', errorTexts.join('\n')],
    ];
    for (const file of await filesUnder(home)) texts.push([file, (await readFile(file)).toString('latin1')]);
    assert.ok(errorTexts.length >= 4, 'the failures above were kept');
    assert.ok(entries.includes('audit.credentials'));
    for (const [where, text] of texts) {
      for (const value of [secret, rejectedSecret, unknownFieldSecret]) assert.ok(!text.includes(value), `a secret in ${where}`);
    }
  });
});
