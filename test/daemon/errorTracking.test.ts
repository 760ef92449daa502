import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { AuditError } from '../../daemon/protocol/errors.ts';
import { startDaemonProcess, type DaemonProcess } from '../support/daemonProcess.ts';
import { filesUnder } from '../support/filesUnder.ts';
import { tempDir } from '../support/tempDir.ts';

/**
 * Error tracking against a real local HTTP endpoint standing in for Sentry: the DSN points at it, and
 * it keeps every envelope the SDK posts. A real fault inside a real daemon must arrive there; no token,
 * key, content or metadata may.
 */
describe('error tracking with SENTRY_DSN (real daemon process, local envelope endpoint)', () => {
  let home: { path: string; dispose(): Promise<void> };
  let server: Server;
  let daemon: DaemonProcess;
  const envelopes: string[] = [];
  const masterKey = randomBytes(32).toString('base64');

  before(async () => {
    home = await tempDir('sentry');
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        envelopes.push((req.headers['content-encoding'] === 'gzip' ? gunzipSync(body) : body).toString('utf8'));
        res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as { port: number };
    daemon = await startDaemonProcess(home.path, { AI_AUDIT_MASTER_KEY: masterKey, SENTRY_DSN: `http://0123456789abcdef0123456789abcdef@127.0.0.1:${port}/42` });
  });
  after(async () => {
    await daemon?.stop();
    server?.close();
    await home?.dispose();
  });

  test('an internal error reaches the endpoint, without secrets or content', { timeout: 120_000 }, async () => {
    assert.match(daemon.output(), /error tracking: unexpected errors are reported/);
    const client = await daemon.connect();
    try {
      const content = `CONTENT-${randomBytes(8).toString('hex')}`;
      const meta = `META-${randomBytes(8).toString('hex')}`;
      await client.request('ingest', { events: [{ kind: 'chat.input', input: content, metadata: { note: meta } }] });
      // A real fault: the segment file becomes a directory under the running daemon.
      const [segment] = (await filesUnder(join(home.path, 'entries'))).filter((f) => f.endsWith('.jsonl'));
      assert.ok(segment !== undefined);
      await rm(segment);
      await mkdir(segment);
      await assert.rejects(client.request('verify', {}), (error: unknown) => error instanceof AuditError && error.code === 'internal');

      while (!envelopes.some((e) => e.includes('"exception"'))) await new Promise((resolve) => setTimeout(resolve, 50));
      const all = envelopes.join('\n');
      assert.match(all, /EISDIR/);
      for (const secret of [daemon.token, masterKey, content, meta, home.path]) {
        assert.ok(!all.includes(secret), `the envelope holds ${secret.slice(0, 12)}…`);
      }
      assert.doesNotMatch(all, /"breadcrumbs"|"request"|"user"/);
      assert.doesNotMatch(all, /"type":"transaction"|"type":"span"/, 'no tracing');
    } finally {
      await client.dispose();
    }
  });
});
