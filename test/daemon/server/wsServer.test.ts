import assert from 'node:assert/strict';
import { get as httpGet } from 'node:http';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { ConnectError, DaemonClient } from '../../../daemon/client/daemonClient.ts';
import type { Entry } from '../../../daemon/protocol/entry.ts';
import { MAX_BATCH_EVENTS, MAX_FRAME_BYTES, type IngestAck, type IngestRejected } from '../../../daemon/protocol/messages.ts';
import { startDaemonProcess, type DaemonProcess } from '../../support/daemonProcess.ts';
import { startDaemonSuite, type DaemonSuite } from '../../support/daemonSuite.ts';
import { tempDir } from '../../support/tempDir.ts';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { listSegments } from '../../../daemon/store/segmentPaths.ts';

/** Sends one raw text frame and resolves with the next frame the daemon sends back. */
function rawExchange(port: number, token: string, frame: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/v1`, { headers: { Authorization: `Bearer ${token}` } });
    ws.once('open', () => ws.send(frame));
    ws.once('message', (data) => {
      resolve(JSON.parse(data.toString()) as Record<string, unknown>);
      ws.close();
    });
    ws.once('error', reject);
  });
}

function handshakeStatus(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.once('open', () => {
      ws.close();
      resolve(101);
    });
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.once('error', (error) => {
      if (!/Unexpected server response/.test(error.message)) reject(error);
    });
  });
}

describe('the daemon WebSocket endpoint (real daemon process)', () => {
  let suite: DaemonSuite | undefined;
  let daemon: DaemonProcess;
  let client: DaemonClient;
  const env = { AI_AUDIT_MASTER_KEY: randomBytes(32).toString('base64') };

  before(async () => {
    suite = await startDaemonSuite('ws', env);
    ({ daemon, client } = suite);
  });
  after(() => suite?.dispose());

  test('listens on 127.0.0.1 only and announces port and pid', () => {
    assert.equal(daemon.discovery.host, '127.0.0.1');
    assert.equal(daemon.discovery.pid, daemon.child.pid);
    assert.ok(daemon.discovery.port > 0);
  });

  test('refuses a missing or wrong token (401), a foreign Origin (403), another path (404)', async () => {
    const url = `ws://127.0.0.1:${daemon.discovery.port}/v1`;
    assert.equal(await handshakeStatus(url, {}), 401);
    assert.equal(await handshakeStatus(url, { Authorization: `Bearer ${daemon.token.slice(0, -1)}x` }), 401);
    assert.equal(await handshakeStatus(url, { Authorization: 'Bearer ' }), 401);
    assert.equal(await handshakeStatus(url, { Authorization: `Bearer ${daemon.token}`, Origin: 'https://evil.example' }), 403);
    assert.equal(await handshakeStatus(url, { Authorization: `Bearer ${daemon.token}`, Origin: 'vscode-webview://abc123' }), 101);
    assert.equal(await handshakeStatus(`ws://127.0.0.1:${daemon.discovery.port}/v2`, { Authorization: `Bearer ${daemon.token}` }), 404);
    await assert.rejects(DaemonClient.connect({ port: daemon.discovery.port, token: 'wrong' }), (error: unknown) => error instanceof ConnectError && error.status === 401);
  });

  test('ingest round trip: acks after fsync, query returns the entries newest first', async () => {
    const { acks } = await client.request('ingest', {
      events: [
        { kind: 'chat.input', input: 'round trip', model: 'm1', actor: { user_id: 'ada' } },
        { kind: 'chat.output', output: 'answer', model: 'm1', actor: { user_id: 'ada' } },
      ],
    });
    const [a, b] = acks as IngestAck[];
    assert.ok(a !== undefined && b !== undefined && b.seq === a.seq + 1);
    const page = await client.request('query', { filter: { user: 'ada' }, limit: 10 });
    assert.deepEqual(page.entries.map((e) => e.seq), [b.seq, a.seq]);
    const got = await client.request('get', { id: a.id });
    assert.equal(got.entry.seq, a.seq);
  });

  test('query pages carry the stored entries as they are on disk, on every page, under any request id', async () => {
    const events = Array.from({ length: 9 }, (_, i) => ({
      kind: 'chat.input',
      decision: i % 2 === 0 ? 'blocked' : 'allowed',
      actor: { user_id: 'stored-lines' },
      // Keys that JSON.parse reorders (integer-like), non-ASCII text and nesting.
      metadata: { '10': i, '9': 'neuf', é: 'ü\u2028 "quoted"', nested: { list: [1, 2.5, null, true] } },
    }));
    await client.request('ingest', { events });
    const filter = { user: 'stored-lines', decision: 'blocked' as const };
    const paged: Entry[] = [];
    let cursor: string | undefined;
    do {
      const page = await client.request('query', { filter, limit: 2, ...(cursor === undefined ? {} : { cursor }) });
      paged.push(...page.entries);
      cursor = page.next_cursor ?? undefined;
    } while (cursor !== undefined);
    // What the segments hold for the same filter, newest first.
    const stored: Entry[] = [];
    for (const location of await listSegments(suite!.home)) {
      for (const line of (await readFile(join(suite!.home, location.file), 'utf8')).split('\n')) {
        if (line === '') continue;
        const entry = JSON.parse(line) as Entry;
        if (entry.actor?.user_id === 'stored-lines' && entry.decision === 'blocked') stored.unshift(entry);
      }
    }
    assert.equal(stored.length, 5);
    assert.deepEqual(paged, stored);
    // The frame around the stored lines: the request's id (here a string) and a cursor.
    const raw = await rawExchange(daemon.discovery.port, daemon.token, JSON.stringify({ id: 'q-1', method: 'query', params: { filter, limit: 3 } }));
    assert.equal(raw.id, 'q-1');
    const result = raw.result as { entries: Entry[]; next_cursor: string | null };
    assert.deepEqual(result.entries, stored.slice(0, 3));
    assert.equal(typeof result.next_cursor, 'string');
  });

  test('malformed JSON, non-request frames, unknown methods and bad params get typed errors; the connection stays', async () => {
    const { port } = daemon.discovery;
    const badJson = await rawExchange(port, daemon.token, '{"id":1,');
    assert.deepEqual((badJson.error as { code: string }).code, 'bad_json');
    const notRequest = await rawExchange(port, daemon.token, '[1,2,3]');
    assert.equal((notRequest.error as { code: string }).code, 'bad_request');
    const unknown = await rawExchange(port, daemon.token, JSON.stringify({ id: 7, method: 'drop.tables', params: {} }));
    assert.equal(unknown.id, 7);
    assert.equal((unknown.error as { code: string }).code, 'unknown_method');
    await assert.rejects(client.request('query', { limit: 'ten' as unknown as number }), { code: 'invalid_params' });
    await assert.rejects(client.request('ingest', { events: [] }), { code: 'invalid_params' });
    const { acks } = await client.request('ingest', { events: [{ kind: 'chat.input', latency_ms: 'fast' }, { kind: 'chat.input', extra_field: 1 }] });
    assert.equal((acks[0] as IngestRejected).error.code, 'invalid_params');
    assert.match((acks[0] as IngestRejected).error.message, /latency_ms/);
    assert.match((acks[1] as IngestRejected).error.message, /extra_field/);
    // The same connection still works.
    assert.equal((await client.request('health', {})).protocol, 1);
  });

  test('far-future timestamps are refused and duplicate idempotency keys return the original ack', async () => {
    const future = new Date(Date.now() + 3_600_000).toISOString();
    const { acks } = await client.request('ingest', {
      events: [
        { kind: 'chat.input', ts: future },
        { kind: 'chat.input', idempotency_key: 'dup-1' },
      ],
    });
    assert.equal((acks[0] as IngestRejected).error.code, 'future_timestamp');
    const first = acks[1] as IngestAck;
    const again = (await client.request('ingest', { events: [{ kind: 'chat.input', idempotency_key: 'dup-1' }] })).acks[0] as IngestAck;
    assert.equal(again.seq, first.seq);
    assert.equal(again.duplicate, true);
  });

  test('an oversize frame closes only that connection (1009); the daemon stays up', async () => {
    const victim = new WebSocket(`ws://127.0.0.1:${daemon.discovery.port}/v1`, { headers: { Authorization: `Bearer ${daemon.token}` } });
    await new Promise((resolve) => victim.once('open', resolve));
    const closed = new Promise<number>((resolve) => victim.once('close', (code) => resolve(code)));
    victim.send('x'.repeat(MAX_FRAME_BYTES + 1));
    assert.equal(await closed, 1009);
    const fresh = await daemon.connect();
    assert.ok((await fresh.request('health', {})).pid > 0);
    await fresh.dispose();
  });

  test('tail subscription delivers live entries matching its filter', async () => {
    const watcher = await daemon.connect();
    const received: Entry[] = [];
    const gotTwo = new Promise<void>((resolve) => {
      watcher.on('tail.entries', ({ entries }) => {
        received.push(...entries);
        if (received.length >= 2) resolve();
      });
    });
    const { subscription } = await watcher.request('tail.subscribe', { filter: { decision: 'blocked' } });
    await client.request('ingest', {
      events: [
        { kind: 'chat.input', decision: 'blocked', reason: 'tail-1' },
        { kind: 'chat.input', decision: 'allowed' },
        { kind: 'chat.input', decision: 'blocked', reason: 'tail-2' },
      ],
    });
    await gotTwo;
    assert.deepEqual(received.map((e) => e.reason), ['tail-1', 'tail-2']);
    await watcher.request('tail.unsubscribe', { subscription });
    await assert.rejects(watcher.request('tail.unsubscribe', { subscription }), { code: 'unknown_subscription' });
    await watcher.dispose();
  });

  test('stats and verify answer over the wire; verify reports progress-free success on a small store', async () => {
    const marker = `stats-${randomBytes(4).toString('hex')}`;
    await client.request('ingest', {
      events: [
        { kind: 'chat.input', decision: 'blocked', project_id: marker },
        { kind: 'chat.input', decision: 'allowed', project_id: marker },
        { kind: 'chat.input', decision: 'allowed', project_id: marker },
      ],
    });
    const stats = await client.request('stats', { filter: { project: marker } });
    assert.equal(stats.total, 3);
    assert.deepEqual(
      stats.per_day.map(({ allowed, blocked }) => ({ allowed, blocked })),
      [{ allowed: 2, blocked: 1 }],
    );
    const progress: unknown[] = [];
    const listening = client.on('verify.progress', (p) => progress.push(p));
    const report = await client.request('verify', {});
    listening.dispose();
    assert.equal(report.ok, true, JSON.stringify(report.problem));
    const health = await client.request('health', {});
    assert.equal(report.last_seq, health.last_seq);
    assert.equal(report.entries_checked, health.entries);
    assert.deepEqual(progress, [], 'fewer than 50,000 entries: no progress notification');
  });

  test('a binary frame gets bad_request and the connection stays usable', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${daemon.discovery.port}/v1`, { headers: { Authorization: `Bearer ${daemon.token}` } });
    await new Promise((resolve) => ws.once('open', resolve));
    const next = () => new Promise<Record<string, unknown>>((resolve) => ws.once('message', (data) => resolve(JSON.parse(data.toString()) as Record<string, unknown>)));
    let reply = next();
    ws.send(Buffer.from(JSON.stringify({ id: 1, method: 'health', params: {} })), { binary: true });
    const refused = await reply;
    assert.equal((refused.error as { code: string }).code, 'bad_request');
    assert.equal(refused.id, null);
    reply = next();
    ws.send(JSON.stringify({ id: 2, method: 'health', params: {} }));
    const answered = await reply;
    assert.equal(answered.id, 2);
    assert.equal((answered.result as { protocol: number }).protocol, 1);
    assert.equal(ws.readyState, WebSocket.OPEN);
    ws.close();
  });

  test('plain HTTP (no upgrade) gets 426 Upgrade Required', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpGet(`http://127.0.0.1:${daemon.discovery.port}/v1`, { headers: { Authorization: `Bearer ${daemon.token}` } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.once('error', reject);
    });
    assert.equal(status, 426);
  });
});

describe('daemon stop and long verifies (a daemon of its own each)', () => {
  const env = { AI_AUDIT_MASTER_KEY: randomBytes(32).toString('base64') };

  test('stopping the daemon closes open connections with 1001 (going away)', async () => {
    const home = await tempDir('ws-stop');
    const daemon = await startDaemonProcess(home.path, env);
    try {
      const ws = new WebSocket(`ws://127.0.0.1:${daemon.discovery.port}/v1`, { headers: { Authorization: `Bearer ${daemon.token}` } });
      await new Promise((resolve) => ws.once('open', resolve));
      const closed = new Promise<[number, string]>((resolve) => ws.once('close', (code, reason) => resolve([code, reason.toString()])));
      assert.equal(await daemon.stop(), 0);
      const [code] = await closed;
      assert.equal(code, 1001);
    } finally {
      await daemon.kill9();
      await home.dispose();
    }
  });

  test('verify sends verify.progress every 50,000 entries', async () => {
    const suite = await startDaemonSuite('ws-progress', env);
    const c = suite.client;
    try {
      const ingest = async (count: number): Promise<void> => {
        for (let done = 0; done < count; ) {
          const n = Math.min(MAX_BATCH_EVENTS, count - done);
          const { acks } = await c.request('ingest', { events: Array.from({ length: n }, () => ({ kind: 'chat.input' as const })) });
          assert.ok(acks.every((a) => !('error' in a)));
          done += n;
        }
      };
      const progressOf = async (): Promise<Array<{ entries_checked: number; last_seq: number }>> => {
        const seen: Array<{ entries_checked: number; last_seq: number; request: string | number }> = [];
        const listening = c.on('verify.progress', (p) => seen.push(p));
        const report = await c.request('verify', {});
        listening.dispose();
        assert.equal(report.ok, true, JSON.stringify(report.problem));
        // Each notification names the request it belongs to.
        assert.equal(new Set(seen.map((p) => p.request)).size, Math.min(seen.length, 1));
        return seen.map(({ entries_checked, last_seq }) => ({ entries_checked, last_seq }));
      };
      await ingest(49_999);
      assert.deepEqual(await progressOf(), []);
      await ingest(2);
      assert.deepEqual(await progressOf(), [{ entries_checked: 50_000, last_seq: 50_000 }]);
    } finally {
      await suite.dispose();
    }
  });
});

describe('a tail subscriber that stops reading', () => {
  test('is disconnected (1008) instead of growing the daemon memory; others are served', async () => {
    const home = await tempDir('ws-slow');
    const daemon = await startDaemonProcess(home.path, { AI_AUDIT_MASTER_KEY: randomBytes(32).toString('base64') });
    try {
      const slow = new WebSocket(`ws://127.0.0.1:${daemon.discovery.port}/v1`, { headers: { Authorization: `Bearer ${daemon.token}` } });
      await new Promise((resolve) => slow.once('open', resolve));
      const closed = new Promise<number>((resolve) => slow.once('close', (code) => resolve(code)));
      slow.send(JSON.stringify({ id: 1, method: 'tail.subscribe', params: {} }));
      await new Promise((resolve) => slow.once('message', resolve));
      // Stop reading: the socket's data stays in the kernel and then in the daemon's send buffer.
      (slow as unknown as { _socket: { pause(): void } })._socket.pause();
      const writer = await daemon.connect();
      const pad = 'x'.repeat(3000);
      let code: number | null = null;
      void closed.then((c) => (code = c));
      for (let i = 0; i < 200 && code === null; i++) {
        await writer.request('ingest', { events: Array.from({ length: 100 }, () => ({ kind: 'chat.input' as const, metadata: { pad } })) });
      }
      (slow as unknown as { _socket: { resume(): void } })._socket.resume();
      assert.equal(await closed, 1008);
      assert.match(daemon.output(), /does not read its notifications/);
      assert.ok((await writer.request('health', {})).entries > 0);
      await writer.dispose();
    } finally {
      await daemon.stop();
      await home.dispose();
    }
  });
});
