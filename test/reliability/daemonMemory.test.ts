import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import type { DaemonClient } from '../../daemon/client/daemonClient.ts';
import type { IngestAck, IngestRejected } from '../../daemon/protocol/messages.ts';
import type { DaemonProcess } from '../support/daemonProcess.ts';
import { startDaemonSuite, type DaemonSuite } from '../support/daemonSuite.ts';
import { processRssMiB } from '../support/processRss.ts';
import { reliabilitySize } from './reliabilitySize.ts';

/**
 * An authenticated client must not be able to exhaust the daemon's memory (issue 9, item 4). Each test
 * drives a real daemon process the way the adversarial test did and bounds its resident memory.
 */

const linux = process.platform === 'linux';

/** Metadata nested `depth` levels below the event: 3,000 levels overflowed zod's stack and leaked. */
function deepValue(depth: number): unknown {
  let value: unknown = 'leaf';
  for (let i = 0; i < depth; i++) value = { a: value };
  return value;
}

async function rss(daemon: DaemonProcess): Promise<number> {
  const value = await processRssMiB(daemon.child.pid ?? 0);
  assert.ok(value !== null, 'the daemon process has no /proc status');
  return value;
}

/** A raw WebSocket client, for a client that misbehaves (reads nothing). */
async function rawClient(daemon: DaemonProcess): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${daemon.discovery.port}/v1`, { headers: { Authorization: `Bearer ${daemon.token}` } });
  await once(ws, 'open');
  return ws;
}

describe('daemon memory under a hostile authenticated client (real daemon process)', { skip: linux ? false : 'RSS is read from /proc (Linux only)' }, () => {
  let suite: DaemonSuite | undefined;
  let daemon: DaemonProcess;
  let client: DaemonClient;

  before(async () => {
    suite = await startDaemonSuite('memory', { AI_AUDIT_MASTER_KEY: randomBytes(32).toString('base64') });
    ({ daemon, client } = suite);
  });
  after(() => suite?.dispose());

  test('deep metadata gets invalid_params per event, the rest of the batch is stored, and nothing leaks', { timeout: 600_000 }, async () => {
    const frames = reliabilitySize({ ci: 1000, full: 25_000 });
    const deep = { kind: 'chat.input', metadata: { d: deepValue(3000) } };
    const atStart = await rss(daemon);
    let stored = 0;
    // A window of outstanding requests keeps the daemon busy without measuring our own buffers.
    const window = 50;
    for (let sent = 0; sent < frames; sent += window) {
      const batch = Array.from({ length: Math.min(window, frames - sent) }, (_, i) =>
        client.request('ingest', { events: [deep, { kind: 'chat.input', metadata: { n: sent + i } }] }),
      );
      for (const { acks } of await Promise.all(batch)) {
        const [bad, good] = acks as [IngestAck | IngestRejected, IngestAck | IngestRejected];
        assert.ok('error' in bad, 'the deep event must be refused');
        assert.equal(bad.error.code, 'invalid_params');
        assert.match(String((bad.error.data?.issues as Array<{ path: string }>)[0]?.path), /^metadata\.d\.a/);
        assert.ok('seq' in good, `the valid event of the batch must be stored: ${JSON.stringify(good)}`);
        stored += 1;
      }
    }
    const grown = (await rss(daemon)) - atStart;
    // Before the fix each such frame kept ~130 KB (zod's recursion memo held every overflowed parse):
    // 1,000 frames grew the daemon by ~300 MiB, 25,000 killed it.
    assert.ok(grown < 100, `the daemon grew by ${grown.toFixed(0)} MiB over ${frames} deep frames`);
    const health = await client.request('health', {});
    assert.equal(health.entries, stored);
  });

  test('a client that sends many large queries and reads nothing stalls itself, not the daemon', { timeout: 600_000 }, async () => {
    // 1,000 entries of about 1 KB: each `query {limit: 1000}` answer is about 1.2 MB.
    const padding = 'x'.repeat(900);
    for (let i = 0; i < 1000; i += 500) {
      await client.request('ingest', { events: Array.from({ length: 500 }, (_, j) => ({ kind: 'chat.input', metadata: { i: i + j, padding } })) });
    }
    const queries = reliabilitySize({ ci: 300, full: 4000 });
    // Before the fix every answer was queued in the daemon: 300 answers held ~400 MiB, 4,000 held 2 GB.
    const boundMiB = (await rss(daemon)) + 200;
    const ws = await rawClient(daemon);
    ws.pause();
    const frame = JSON.stringify({ id: 0, method: 'query', params: { limit: 1000 } });
    for (let i = 0; i < queries; i++) ws.send(frame.replace('"id":0', `"id":${i + 1}`));

    // Wait until the daemon has stopped reading this client and finished what it started.
    for (;;) {
      const now = await rss(daemon);
      assert.ok(now < boundMiB, `the daemon grew to ${now.toFixed(0)} MiB (bound ${boundMiB.toFixed(0)}) while the client read nothing`);
      const { flow } = await client.request('health', {});
      if (flow.reading_paused >= 1 && flow.requests_running === 1) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const paused = await rss(daemon);
    assert.ok(paused < boundMiB, `the daemon holds ${paused.toFixed(0)} MiB (bound ${boundMiB.toFixed(0)}) for a client that reads nothing`);

    // The client reads again: every answer arrives, complete, on the same connection.
    let answered = 0;
    let peak = paused;
    const done = new Promise<void>((resolve, reject) => {
      ws.on('message', (data) => {
        const response = JSON.parse(data.toString()) as { result?: { entries: unknown[] } };
        if (response.result?.entries.length !== 1000) reject(new Error(`answer ${answered + 1}: ${data.toString().slice(0, 200)}`));
        answered += 1;
        if (answered % 20 === 0) void rss(daemon).then((now) => (peak = Math.max(peak, now)));
        if (answered === queries) resolve();
      });
      ws.once('close', (code) => reject(new Error(`the daemon closed the connection (${code})`)));
    });
    ws.resume();
    await done;
    assert.ok(peak < boundMiB, `the daemon grew to ${peak.toFixed(0)} MiB while the client caught up`);
    ws.close();
    await once(ws, 'close');
  });
});
