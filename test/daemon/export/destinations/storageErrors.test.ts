import { AuthenticationRequiredError, CredentialUnavailableError } from '@azure/identity';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { S3Destination } from '../../../../daemon/export/destinations/s3Destination.ts';
import type { S3LikeConfig } from '../../../../daemon/export/destinations/s3Destination.ts';
import { storageError } from '../../../../daemon/export/destinations/storageErrors.ts';
import { bufferBody } from '../../../../daemon/export/destinations/verifiedBody.ts';
import { ExportDestinationError } from '../../../../daemon/export/exportDestination.ts';
import { DestinationConfig } from '../../../../daemon/protocol/destinations.ts';
import { AuditError, ErrorCodes } from '../../../../daemon/protocol/errors.ts';
import { startFaultProxy } from '../../../support/faultProxy.ts';
import type { ErrorAnswer } from '../../../support/faultProxy.ts';
import { S3RVER_KEYS, startS3rver } from '../../../support/s3rverServer.ts';
import type { S3rverServer } from '../../../support/s3rverServer.ts';
import { tempDir } from '../../../support/tempDir.ts';

const call = { operation: 'write', location: 's3://bucket/prefix', key: 'a.jsonl' };

function config(endpoint: string, extra: Record<string, unknown> = {}): S3LikeConfig {
  const parsed = DestinationConfig.parse({ type: 's3-compatible', endpoint, bucket: 'exports', credentials: { source: 'keychain', ref: 'test' }, ...extra });
  assert.ok(parsed.type === 's3-compatible');
  return parsed;
}

async function failure(promise: Promise<unknown>): Promise<ExportDestinationError> {
  try {
    await promise;
  } catch (error: unknown) {
    assert.ok(error instanceof ExportDestinationError, `expected an ExportDestinationError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected a failure');
}

describe('S3 service answers become typed errors that say what to do (real SDK, real HTTP)', () => {
  let s3: S3rverServer;
  before(async () => {
    s3 = await startS3rver({ buckets: ['exports'] });
  });
  after(async () => {
    await s3.dispose();
  });

  const cases: { answer: ErrorAnswer; code: ExportDestinationError['code']; retryable: boolean; advice: RegExp }[] = [
    { answer: { status: 403, code: 'RequestTimeTooSkewed' }, code: 'clock_skew', retryable: false, advice: /clock/ },
    { answer: { status: 400, code: 'ExpiredToken' }, code: 'credentials_expired', retryable: false, advice: /Refresh/ },
    { answer: { status: 403, code: 'AccessDenied' }, code: 'access_denied', retryable: false, advice: /s3:PutObject/ },
    { answer: { status: 503, code: 'SlowDown' }, code: 'throttled', retryable: true, advice: /slow down/ },
    { answer: { status: 500, code: 'InternalError' }, code: 'server_error', retryable: true, advice: /retried/ },
    { answer: { status: 429, code: 'TooManyRequests' }, code: 'throttled', retryable: true, advice: /slow down/ },
    { answer: { status: 404, code: 'NoSuchBucket' }, code: 'no_such_bucket', retryable: false, advice: /Create it/ },
  ];
  for (const { answer, code, retryable, advice } of cases) {
    test(`${answer.status} ${answer.code} → ${code}`, async () => {
      const proxy = await startFaultProxy({ target: s3.endpoint, decide: ({ method }) => (method === 'PUT' ? answer : null) });
      const target = new S3Destination(config(proxy.endpoint), { keys: { ...S3RVER_KEYS }, maxAttempts: 2 });
      try {
        const error = await failure(target.putObject('a.jsonl', bufferBody(Buffer.from('x'))));
        assert.equal(error.code, code, error.message);
        assert.equal(error.retryable, retryable);
        assert.match(error.message, advice);
        assert.match(error.message, new RegExp(answer.code));
        if (retryable) assert.equal(proxy.seen.filter((request) => request.startsWith('PUT')).length, 2, 'the SDK retried');
      } finally {
        await target.dispose();
        await proxy.dispose();
      }
    });
  }

  test('no credentials anywhere in the default chain → credentials_missing', async () => {
    const home = await tempDir('aws-home');
    const saved = { ...process.env };
    for (const name of Object.keys(process.env)) if (name.startsWith('AWS_')) delete process.env[name];
    Object.assign(process.env, {
      AWS_SHARED_CREDENTIALS_FILE: `${home.path}/credentials`,
      AWS_CONFIG_FILE: `${home.path}/config`,
      AWS_EC2_METADATA_DISABLED: 'true',
    });
    const target = new S3Destination(config(s3.endpoint, { credentials: { source: 'default', profile: 'nobody' } }), { maxAttempts: 1 });
    try {
      const error = await failure(target.putObject('a.jsonl', bufferBody(Buffer.from('x'))));
      assert.equal(error.code, 'credentials_missing', error.message);
      assert.match(error.message, /keychain/);
    } finally {
      process.env = saved;
      await target.dispose();
      await home.dispose();
    }
  });
});

describe('storageError', () => {
  test('a part of the SDK that an upgrade removed (its own import() fails) is daemon_outdated, not a destination error', () => {
    const missing = Object.assign(new Error("Cannot find module '/opt/x/dist/cli-chunks/event-streams-OLD.mjs'"), { code: 'ERR_MODULE_NOT_FOUND' });
    assert.throws(
      () => storageError(missing, call),
      (error: unknown) => error instanceof AuditError && error.code === ErrorCodes.DaemonOutdated,
    );
  });

  test('network failures: unreachable hosts are bad_endpoint, dropped connections retryable network errors', () => {
    const node = (code: string): Error => Object.assign(new Error(`connect ${code} 10.0.0.1:443`), { code });
    assert.equal(storageError(node('ENOTFOUND'), call).code, 'bad_endpoint');
    assert.equal(storageError(node('ECONNREFUSED'), call).code, 'bad_endpoint');
    assert.equal(storageError(Object.assign(new TypeError('Invalid URL'), { code: 'ERR_INVALID_URL' }), call).code, 'bad_endpoint');
    const reset = storageError(node('ECONNRESET'), call);
    assert.deepEqual([reset.code, reset.retryable], ['network', true]);
    // Azure wraps Node's failure in a RestError carrying its code.
    const azure = Object.assign(new Error('getaddrinfo ENOTFOUND acct.blob.core.windows.net'), { name: 'RestError', code: 'ENOTFOUND' });
    assert.equal(storageError(azure, call).code, 'bad_endpoint');
  });

  test('Azure identity failures are credentials_missing or credentials_expired', () => {
    assert.equal(storageError(new CredentialUnavailableError('no identity here'), call).code, 'credentials_missing');
    assert.equal(storageError(new AuthenticationRequiredError({ scopes: ['https://storage.azure.com/.default'] }), call).code, 'credentials_expired');
  });

  test('Azure service codes', () => {
    const rest = (statusCode: number, code: string): Error => Object.assign(new Error('…'), { name: 'RestError', statusCode, code });
    assert.equal(storageError(rest(404, 'ContainerNotFound'), call).code, 'no_such_bucket');
    assert.equal(storageError(rest(403, 'AuthenticationFailed'), call).code, 'access_denied');
    assert.equal(storageError(rest(403, 'AuthorizationPermissionMismatch'), call).code, 'access_denied');
    assert.equal(storageError(rest(404, 'BlobNotFound'), call).code, 'not_found');
    assert.deepEqual([storageError(rest(503, 'ServerBusy'), call).code, storageError(rest(503, 'ServerBusy'), call).retryable], ['throttled', true]);
  });

  test('the message and cause never carry the SDK message (which may hold a SAS token or key)', () => {
    const secret = 'sv=2025-01-05&sig=SECRETSIGNATURE%3D';
    const error = Object.assign(new Error(`Server failed to authenticate the request. URL: https://a.blob.core.windows.net/c/b?${secret}`), {
      name: 'RestError',
      statusCode: 403,
      code: 'AuthenticationFailed',
      request: { url: `https://a.blob.core.windows.net/c/b?${secret}` },
    });
    const mapped = storageError(error, call);
    for (const text of [mapped.message, String(mapped.cause), (mapped.cause as Error).stack ?? '']) assert.ok(!text.includes('SECRETSIGNATURE'));
  });

  test('a code, name or request id that echoes a token is not copied; real ones are', () => {
    const token = `FwoGZXIvYXdzE${'7e56cc5b46d3'.repeat(6)}`;
    for (const [field, value] of [['code', token], ['Code', `${token.slice(0, 30)}/${token.slice(30)}`], ['name', token], ['requestId', token], ['requestId', 'sig=abc%3D']] as const) {
      const error = Object.assign(new Error('refused'), { name: 'S3ServiceException', statusCode: 400, [field]: value }, field === 'requestId' ? { $metadata: { requestId: value } } : {});
      const mapped = storageError(error, call);
      for (const text of [mapped.message, String(mapped.cause)]) assert.ok(!text.includes(value.slice(0, 16)), `${field}: ${text}`);
      assert.equal(mapped.code, 'invalid_config');
    }
    const real = Object.assign(new Error('denied'), { name: 'AccessDenied', $metadata: { httpStatusCode: 403, requestId: '4442587FB7D0A2F9' } });
    assert.match(storageError(real, call).message, /AccessDenied, HTTP 403\. .*\(request id 4442587FB7D0A2F9\)/);
    const azure = Object.assign(new Error('x'), { name: 'RestError', statusCode: 400, code: 'Md5Mismatch', requestId: '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0' });
    assert.match(storageError(azure, call).message, /Md5Mismatch, HTTP 400\. .*\(request id 0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0\)/);
  });

  test('an ExportDestinationError passes through; aborts are cancelled', () => {
    const own = new ExportDestinationError('object_exists', 'exists');
    assert.equal(storageError(own, call), own);
    assert.equal(storageError(Object.assign(new Error('aborted'), { name: 'AbortError' }), call).code, 'cancelled');
  });
});
