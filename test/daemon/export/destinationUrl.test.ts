import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DestinationUrlError, describeDestination, parseDestinationUrl } from '../../../daemon/export/destinationUrl.ts';

describe('destination URLs', () => {
  test('s3, s3-compatible with an endpoint, gs and azure; credentials from the default chain or a keychain ref', () => {
    assert.deepEqual(parseDestinationUrl('s3://logs/team/a', { region: 'eu-west-1' }), {
      type: 's3',
      bucket: 'logs',
      prefix: 'team/a',
      region: 'eu-west-1',
      credentials: { source: 'default' },
    });
    const minio = parseDestinationUrl('s3://logs', { endpoint: 'http://127.0.0.1:9000', credentialsRef: 'minio' });
    assert.equal(minio.type, 's3-compatible');
    assert.deepEqual(minio.type === 's3-compatible' && [minio.endpoint, minio.path_style, minio.credentials], ['http://127.0.0.1:9000', true, { source: 'keychain', ref: 'minio' }]);
    assert.equal(parseDestinationUrl('gs://bucket-x/p', { profile: 'ops' }).type, 'gcs');
    const azure = parseDestinationUrl('azure://acct1/container1/audit/x');
    assert.deepEqual(azure.type === 'azure' && [azure.account, azure.container, azure.prefix], ['acct1', 'container1', 'audit/x']);
  });

  test('a folder is made absolute; file:// works too', () => {
    assert.deepEqual(parseDestinationUrl('out/x', {}, '/home/u'), { type: 'dir', path: '/home/u/out/x', prefix: '' });
    assert.deepEqual(parseDestinationUrl('file:///srv/audit', {}, '/home/u'), { type: 'dir', path: '/srv/audit', prefix: '' });
  });

  test('mistakes are usage errors that say what is wrong', () => {
    assert.throws(() => parseDestinationUrl('ftp://x/y'), DestinationUrlError);
    assert.throws(() => parseDestinationUrl('s3://ab'), /bucket/);
    assert.throws(() => parseDestinationUrl('/srv/x', { endpoint: 'http://h' }), /for buckets/);
  });

  test('locations never show credentials of an endpoint URL', () => {
    const config = parseDestinationUrl('s3://logs/p', { endpoint: 'http://user:pw@127.0.0.1:9000' });
    assert.equal(describeDestination(config), 's3://logs/p (http://127.0.0.1:9000)');
  });
});
