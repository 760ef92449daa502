import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ExportDestinationError } from '../../../../daemon/export/exportDestination.ts';
import type { ExportDestination, ObjectBody, ObjectInfo, PutResult } from '../../../../daemon/export/exportDestination.ts';
import { S3Destination } from '../../../../daemon/export/destinations/s3Destination.ts';
import type { S3DestinationOptions, S3LikeConfig } from '../../../../daemon/export/destinations/s3Destination.ts';
import { bufferBody } from '../../../../daemon/export/destinations/verifiedBody.ts';
import { DestinationConfig } from '../../../../daemon/protocol/destinations.ts';
import { FAULTS, shareOfFaults, startFaultProxy } from '../../../support/faultProxy.ts';
import type { FaultProxy } from '../../../support/faultProxy.ts';
import { rejectsWith } from '../../../support/rejectsWith.ts';
import { S3RVER_KEYS, startS3rver } from '../../../support/s3rverServer.ts';
import type { S3rverServer } from '../../../support/s3rverServer.ts';
import { sha256, streamBody } from '../../../support/streamBodies.ts';

const MiB = 1024 * 1024;

function s3Config(endpoint: string, bucket: string, extra: Record<string, unknown> = {}): S3LikeConfig {
  const parsed = DestinationConfig.parse({ type: 's3-compatible', endpoint, bucket, credentials: { source: 'keychain', ref: 'test' }, ...extra });
  assert.ok(parsed.type === 's3-compatible');
  return parsed;
}

async function text(stream: AsyncIterable<unknown>): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function all(iterable: AsyncIterable<ObjectInfo>): Promise<ObjectInfo[]> {
  const out: ObjectInfo[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

describe('S3Destination against s3rver', () => {
  let s3: S3rverServer;
  const open: ExportDestination[] = [];
  const destination = (config: S3LikeConfig, options: S3DestinationOptions = {}): S3Destination => {
    const created = new S3Destination(config, { keys: { ...S3RVER_KEYS }, ...options });
    open.push(created);
    return created;
  };

  before(async () => {
    s3 = await startS3rver({ buckets: ['exports', 'big', 'framing', 'paging', 'probe'] });
  });
  after(async () => {
    for (const created of open) await created.dispose();
    await s3.dispose();
  });

  test('puts, gets and lists objects under the prefix, with sha256 metadata', async () => {
    const target = destination(s3Config(s3.endpoint, 'exports', { prefix: 'team-a' }));
    assert.equal(target.location, 's3://exports/team-a');
    const first = bufferBody(Buffer.from('{"seq":1}\n{"seq":2}\n'), 'application/x-ndjson');
    const result = await target.putObject('2026/12/01/1-2.jsonl', first);
    assert.equal(result.existed, false);
    assert.equal(result.key, '2026/12/01/1-2.jsonl');
    await target.putObject('2026/12/01/manifest.json', bufferBody(Buffer.from('{}')));

    assert.equal(await text(await target.getObject('2026/12/01/1-2.jsonl')), '{"seq":1}\n{"seq":2}\n');
    assert.deepEqual(await all(target.list('')), [
      { key: '2026/12/01/1-2.jsonl', size: 20 },
      { key: '2026/12/01/manifest.json', size: 2 },
    ]);
    assert.deepEqual(await all(target.list('2026/12/01/m')), [{ key: '2026/12/01/manifest.json', size: 2 }]);
    const stored = await s3.storedObjects('exports');
    assert.deepEqual([...stored.keys()], ['team-a/2026/12/01/1-2.jsonl', 'team-a/2026/12/01/manifest.json']);
    const { HeadObjectCommand } = await import('@aws-sdk/client-s3');
    const head = await s3.client.send(new HeadObjectCommand({ Bucket: 'exports', Key: 'team-a/2026/12/01/1-2.jsonl' }));
    assert.equal(head.Metadata?.sha256, first.sha256);
    assert.equal(head.ContentType, 'application/x-ndjson');
  });

  test('a second put of the same bytes reports existed; other bytes under that name are refused', async () => {
    const target = destination(s3Config(s3.endpoint, 'exports', { prefix: 'resume/' }));
    const body = bufferBody(Buffer.from('{"seq":3}\n'), 'application/x-ndjson');
    assert.equal((await target.putObject('3-3.jsonl', body)).existed, false);
    assert.equal((await target.putObject('3-3.jsonl', body)).existed, true);
    const error = await rejectsWith(target.putObject('3-3.jsonl', bufferBody(Buffer.from('{"seq":4}\n'))), 'object_exists');
    assert.match(error.message, /never overwrite/);
    assert.equal((await s3.storedObjects('exports')).get('resume/3-3.jsonl')?.toString('utf8'), '{"seq":3}\n');
  });

  test('a missing object is not_found', async () => {
    const target = destination(s3Config(s3.endpoint, 'exports'));
    await rejectsWith(target.getObject('nothing/here.jsonl'), 'not_found');
  });

  test('a stream body over 64 MiB goes multipart and is stored byte for byte', async () => {
    const body = await streamBody(64 * MiB + 12_345, 'multipart');
    const proxy = await startFaultProxy({ target: s3.endpoint });
    const target = destination(s3Config(proxy.endpoint, 'big'));
    const result = await target.putObject('large.jsonl', body);
    await proxy.dispose();
    assert.equal(result.existed, false);
    // In parts of 8 MiB (the default), as one multipart upload.
    assert.equal(proxy.seen.filter((request) => request.startsWith('PUT /big/large.jsonl?') && request.includes('partNumber=')).length, 9);
    assert.equal(proxy.seen.filter((request) => request.startsWith('POST /big/large.jsonl?uploads')).length, 1);
    const stored = (await s3.storedObjects('big')).get('large.jsonl');
    assert.ok(stored !== undefined);
    assert.equal(stored.length, body.size);
    assert.equal(sha256(stored), body.sha256);
    // Read back through the destination too (s3rver itself, as the proxy is gone).
    const reader = destination(s3Config(s3.endpoint, 'big'));
    const read = await reader.getObject('large.jsonl');
    let size = 0;
    for await (const chunk of read) size += (chunk as Buffer).length;
    assert.equal(size, body.size);
  });

  for (const checksum of ['when_required', 'when_supported'] as const) {
    test(`a stream body is stored without aws-chunked framing (checksum ${checksum})`, async () => {
      const content = Buffer.from('{"seq":10,"text":"chunk framing must never end up in an object"}\n'.repeat(50));
      const body = { ...bufferBody(content, 'application/x-ndjson') };
      const target = destination(s3Config(s3.endpoint, 'framing', { checksum }));
      await target.putObject(`stream-${checksum}.jsonl`, body);
      const stored = (await s3.storedObjects('framing')).get(`stream-${checksum}.jsonl`);
      assert.ok(stored !== undefined);
      assert.ok(!stored.includes('x-amz-checksum'), 'no trailer inside the object');
      assert.ok(stored.equals(content), 'stored bytes equal the body');
    });
  }

  test('a body whose bytes differ from its declared SHA-256 is not stored', async () => {
    const target = destination(s3Config(s3.endpoint, 'exports'));
    const body = { ...bufferBody(Buffer.from('{"seq":5}\n')), sha256: sha256(Buffer.from('something else')) };
    await assert.rejects(target.putObject('liar.jsonl', body), { name: 'BodyMismatchError' });
    assert.equal((await s3.storedObjects('exports')).has('liar.jsonl'), false);
  });

  test('lists across pages', async () => {
    const target = destination(s3Config(s3.endpoint, 'paging', { prefix: 'p' }), { pageSize: 7 });
    const keys = Array.from({ length: 23 }, (_, i) => `hive/year=2026/${String(i).padStart(3, '0')}.jsonl`);
    for (const key of keys) await target.putObject(key, bufferBody(Buffer.from(key)));
    const listed = await all(target.list('hive/'));
    assert.deepEqual(
      listed.map((item) => item.key),
      keys,
    );
  });

  test('probe with full rights: write, read and delete all allowed, and the probe object is gone', async () => {
    const target = destination(s3Config(s3.endpoint, 'probe', { prefix: 'full' }));
    const probe = await target.probe();
    assert.deepEqual({ write: probe.write, read: probe.read, delete: probe.delete }, { write: true, read: true, delete: true }, probe.detail.join('\n'));
    assert.match(probe.key, /^\.ai-audit-probe\//);
    assert.equal((await s3.storedObjects('probe')).size, 0);
  });

  describe('through a proxy that denies reads and deletes (a PutObject-only policy)', () => {
    let proxy: FaultProxy;
    before(async () => {
      proxy = await startFaultProxy({ target: s3.endpoint, denyReads: true });
    });
    after(async () => {
      await proxy.dispose();
    });

    test('probe reports write only, which is not a failure', async () => {
      const target = destination(s3Config(proxy.endpoint, 'probe', { prefix: 'write-only' }));
      const probe = await target.probe();
      assert.deepEqual({ write: probe.write, read: probe.read, delete: probe.delete }, { write: true, read: false, delete: false }, probe.detail.join('\n'));
      assert.ok(probe.detail.some((line) => /read: denied/.test(line)));
      assert.ok(probe.detail.some((line) => /delete: denied .*recommended/.test(line)));
      const stored = await s3.storedObjects('probe');
      assert.deepEqual([...stored.keys()], [`write-only/${probe.key}`]);
    });

    test('puts work without the right to look first', async () => {
      const target = destination(s3Config(proxy.endpoint, 'exports', { prefix: 'wo' }));
      const body = bufferBody(Buffer.from('{"seq":7}\n'), 'application/x-ndjson');
      assert.equal((await target.putObject('7-7.jsonl', body)).existed, false);
      assert.ok((await s3.storedObjects('exports')).get('wo/7-7.jsonl')?.equals(Buffer.from('{"seq":7}\n')));
      await rejectsWith(target.getObject('7-7.jsonl'), 'access_denied');
    });
  });

  describe('through a proxy that evaluates If-None-Match as AWS does', () => {
    const proxies: FaultProxy[] = [];
    after(async () => {
      for (const proxy of proxies) await proxy.dispose();
    });

    test('a write whose answer was lost is retried, finds its own object (412) and reports it, stored once', async () => {
      const proxy = await startFaultProxy({
        target: s3.endpoint,
        conditionalWrites: true,
        decide: ({ method, url, attempt }) => (method === 'PUT' && url.startsWith('/exports/race/8-8.jsonl') && attempt === 0 ? 'reset-after' : null),
      });
      proxies.push(proxy);
      const target = destination(s3Config(proxy.endpoint, 'exports', { prefix: 'race' }));
      const body = bufferBody(Buffer.from('{"seq":8}\n'), 'application/x-ndjson');
      assert.equal((await target.putObject('8-8.jsonl', body)).existed, true);
      assert.equal(proxy.injected.get('reset-after'), 1);
      assert.equal(proxy.injected.get('precondition-failed'), 1);
      assert.ok((await s3.storedObjects('exports')).get('race/8-8.jsonl')?.equals(Buffer.from('{"seq":8}\n')));
    });

    test('without the right to look, an existing name counts as this run\'s object (the manifest decides)', async () => {
      const proxy = await startFaultProxy({ target: s3.endpoint, conditionalWrites: true, denyReads: true });
      proxies.push(proxy);
      const { PutObjectCommand } = await import('@aws-sdk/client-s3');
      await s3.client.send(new PutObjectCommand({ Bucket: 'exports', Key: 'race/9-9.jsonl', Body: Buffer.from('{"seq":9}\n') }));
      const target = destination(s3Config(proxy.endpoint, 'exports', { prefix: 'race' }));
      assert.equal((await target.putObject('9-9.jsonl', bufferBody(Buffer.from('{"seq":9}\n')))).existed, true);
      assert.equal(proxy.injected.get('precondition-failed'), 1);
    });
  });

  test('through a proxy that drops, delays and fails a share of requests, every object arrives once and intact', async () => {
    await s3.createBucket('faults');
    const proxy = await startFaultProxy({ target: s3.endpoint, conditionalWrites: true, decide: shareOfFaults({ share: 0.3, seed: 'faults-1' }) });
    try {
      const target = destination(s3Config(proxy.endpoint, 'faults', { prefix: 'run' }), { partSize: 5 * MiB });
      const bodies = new Map<string, ObjectBody>();
      for (let i = 0; i < 60; i++) {
        const key = `year=2026/month=12/day=01/${String(i * 100 + 1).padStart(8, '0')}-${String(i * 100 + 100).padStart(8, '0')}.jsonl`;
        bodies.set(key, i % 20 === 7 ? await streamBody(11 * MiB, key) : bufferBody(Buffer.from(`{"seq":${i}}\n`.repeat(1 + i * 37)), 'application/x-ndjson'));
      }
      const queue = [...bodies];
      const results: PutResult[] = [];
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          for (let next = queue.shift(); next !== undefined; next = queue.shift()) results.push(await target.putObject(next[0], next[1]));
        }),
      );
      assert.equal(results.length, bodies.size);
      const stored = await s3.storedObjects('faults');
      assert.deepEqual([...stored.keys()], [...bodies.keys()].map((key) => `run/${key}`).sort());
      for (const [key, body] of bodies) {
        const bytes = stored.get(`run/${key}`);
        assert.ok(bytes !== undefined && bytes.length === body.size && sha256(bytes) === body.sha256, `${key} intact`);
      }
      assert.deepEqual((await all(target.list(''))).map((item) => item.key), [...bodies.keys()].sort());
      for (const fault of FAULTS) assert.ok((proxy.injected.get(fault) ?? 0) > 0, `the proxy injected ${fault}: ${JSON.stringify([...proxy.injected])}`);
    } finally {
      await proxy.dispose();
    }
  });

  test('an unknown access key id is access_denied, and the message holds no secret', async () => {
    const secret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETKEY';
    const target = new S3Destination(s3Config(s3.endpoint, 'exports'), { keys: { accessKeyId: 'AKIAUNKNOWNKEY', secretAccessKey: secret }, maxAttempts: 1 });
    open.push(target);
    const error = await rejectsWith(target.putObject('denied.jsonl', bufferBody(Buffer.from('x'))), 'access_denied');
    assert.match(error.message, /InvalidAccessKeyId/);
    assert.match(error.message, /credentials/);
    for (const text of [error.message, String(error.cause), error.stack ?? '']) assert.ok(!text.includes(secret), 'no secret in the error');
    const probe = await target.probe();
    assert.equal(probe.write, false);
    assert.ok(!probe.detail.join('\n').includes(secret));
  });

  test('a missing bucket is no_such_bucket for put, get and list', async () => {
    const target = destination(s3Config(s3.endpoint, 'no-such-bucket'));
    const error = await rejectsWith(target.putObject('a.jsonl', bufferBody(Buffer.from('x'))), 'no_such_bucket');
    assert.match(error.message, /Create it/);
    await rejectsWith(target.getObject('a.jsonl'), 'no_such_bucket');
    await rejectsWith(all(target.list('')), 'no_such_bucket');
  });

  test('an endpoint where nothing listens is bad_endpoint', async () => {
    const closed = await startS3rver();
    const endpoint = closed.endpoint;
    await closed.dispose();
    const target = destination(s3Config(endpoint, 'exports'), { maxAttempts: 1 });
    const error = await rejectsWith(target.putObject('a.jsonl', bufferBody(Buffer.from('x'))), 'bad_endpoint');
    assert.match(error.message, /endpoint URL/);
  });

  test('an endpoint with a user and password in it is refused before any request', () => {
    assert.throws(
      () => new S3Destination(s3Config('http://user:pass@127.0.0.1:1', 'exports')),
      (error: unknown) => error instanceof ExportDestinationError && error.code === 'invalid_config' && !error.message.includes('pass@'),
    );
  });

  test('cancelling an upload rejects with cancelled', async () => {
    const target = destination(s3Config(s3.endpoint, 'exports'));
    const controller = new AbortController();
    controller.abort();
    await rejectsWith(target.putObject('cancelled.jsonl', bufferBody(Buffer.from('x')), controller.signal), 'cancelled');
  });
});
