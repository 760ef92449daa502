import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { appendFile, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { DaemonClient } from '../../../daemon/client/daemonClient.ts';
import type { Entry, IngestEvent } from '../../../daemon/protocol/entry.ts';
import type { IngestAck, IngestRejected } from '../../../daemon/protocol/messages.ts';
import { EventQueue, type BatchSender } from '../../../extension/daemon/eventQueue.ts';
import { createQueueCipher } from '../../../extension/daemon/queueCipher.ts';
import { runCliProcess, startDaemonProcess, type DaemonProcess } from '../../support/daemonProcess.ts';
import { tempDir } from '../../support/tempDir.ts';

/**
 * The real daemon (`ai-audit daemon`, as the extension starts it) behind the sender the extension's
 * supervisor uses: it stores, deduplicates by idempotency key and rejects invalid events itself.
 */
async function realDaemon(home: string) {
  const env = { AI_AUDIT_MASTER_KEY: randomBytes(32).toString('base64') };
  let daemon: DaemonProcess | null = await startDaemonProcess(home, env);
  let client: DaemonClient | null = await daemon.connect();
  let failNext = 0;
  const send: BatchSender = async (events) => {
    if (failNext > 0) {
      failNext--;
      throw new Error('connection lost');
    }
    if (client === null) throw new Error('the daemon is not running');
    return (await client.request('ingest', { events: [...events] as IngestEvent[] })).acks;
  };
  const entries = async (): Promise<Entry[]> => {
    const result = await runCliProcess(['query', '--all', '--home', home], { env });
    assert.equal(result.code, 0, result.stderr);
    return result.stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Entry).reverse();
  };
  return {
    send,
    entries,
    failOnce: (n = 1) => (failNext = n),
    async stop() {
      await client?.dispose();
      client = null;
      await daemon?.stop();
      daemon = null;
    },
    async start() {
      daemon = await startDaemonProcess(home, env);
      client = await daemon.connect();
    },
  };
}

/** The `n` field of each stored entry (kept in metadata), in store order. */
const order = (entries: Entry[]) => entries.map((e) => String(e.metadata?.n));

describe('EventQueue (the extension durable outbox)', () => {
  let dir: { path: string; dispose(): Promise<void> };
  let home: { path: string; dispose(): Promise<void> };
  let daemon: Awaited<ReturnType<typeof realDaemon>> | null = null;
  const startDaemon = async () => (daemon = await realDaemon(home.path));
  const key = randomBytes(32);
  const cipher = createQueueCipher(key);
  const logs: string[] = [];
  const log = (m: string) => logs.push(m);

  beforeEach(async () => {
    dir = await tempDir('queue');
    home = await tempDir('queue-daemon');
    logs.length = 0;
  });
  afterEach(async () => {
    await daemon?.stop();
    daemon = null;
    await dir.dispose();
    await home.dispose();
  });
  /** A chat event as the extension queues it (`n` rides in metadata to check the order). */
  const event = (n: number, extra: Record<string, unknown> = {}) => ({ kind: 'chat.input', decision: 'allowed', metadata: { n }, ...extra });

  test('events are durable before enqueue resolves, sealed at rest, and sent in order once', async () => {
    const queue = await EventQueue.open(dir.path, cipher, log);
    for (let n = 0; n < 5; n++) await queue.enqueue(event(n, { input: `secret prompt ${n}` }));
    const onDisk = await readFile(join(dir.path, 'queue.jsonl'), 'utf8');
    assert.equal(onDisk.trim().split('\n').length, 5);
    assert.ok(!onDisk.includes('secret prompt'), 'queued content is sealed at rest');
    const daemon = await startDaemon();
    await queue.drain(daemon.send);
    assert.deepEqual(order(await daemon.entries()), ['0', '1', '2', '3', '4']);
    assert.equal(queue.size, 0);
    assert.equal(await readFile(join(dir.path, 'queue.jsonl'), 'utf8'), '');
  });

  test('what was not acknowledged survives a restart and is sent without duplicates', async () => {
    const daemon = await startDaemon();
    let queue = await EventQueue.open(dir.path, cipher, log);
    for (let n = 0; n < 3; n++) await queue.enqueue(event(n));
    daemon.failOnce();
    await assert.rejects(queue.drain(daemon.send));
    assert.equal(queue.size, 3);
    queue.dispose();
    // A new session (the editor restarted) finds them and sends them.
    queue = await EventQueue.open(dir.path, cipher, log);
    assert.equal(queue.size, 3);
    await queue.drain(daemon.send);
    assert.deepEqual(order(await daemon.entries()), ['0', '1', '2']);
    // A crash after the daemon acked but before the cursor was written: the resend is deduplicated.
    await queue.enqueue(event(3));
    const lines = (await readFile(join(dir.path, 'queue.jsonl'), 'utf8')).trim().split('\n');
    await queue.drain(daemon.send);
    await appendFile(join(dir.path, 'queue.jsonl'), lines.map((l) => `${l}\n`).join(''));
    queue = await EventQueue.open(dir.path, cipher, log);
    const acks: Array<IngestAck> = [];
    queue.onAck((_k, ack) => acks.push(ack));
    await queue.drain(daemon.send);
    assert.deepEqual(order(await daemon.entries()), ['0', '1', '2', '3'], 'the daemon recognized the resent event by its idempotency key');
    assert.equal(acks[0]?.duplicate, true);
  });

  test('queued events keep the time they happened: ts is the enqueue time, not the replay time', async () => {
    const queue = await EventQueue.open(dir.path, cipher, log);
    const before = new Date().toISOString();
    for (let n = 0; n < 3; n++) await queue.enqueue(event(n));
    await queue.enqueue(event(3, { ts: '2026-01-02T03:04:05.000Z' }));
    const queued = new Date().toISOString();
    // The daemon was away while they happened; it comes back later and the outbox drains.
    await new Promise((resolve) => setTimeout(resolve, 20));
    const daemon = await startDaemon();
    await queue.drain(daemon.send);
    const entries = await daemon.entries();
    assert.equal(entries.length, 4);
    for (const entry of entries.slice(0, 3)) {
      assert.ok(entry.ts >= before && entry.ts <= queued, `ts ${entry.ts} is when the event was queued`);
      assert.ok(entry.recorded_at > queued, 'recorded_at is when the daemon stored it');
    }
    assert.equal(entries[3]?.ts, '2026-01-02T03:04:05.000Z', 'a producer-given ts is kept');
  });

  test('a torn last line (crash during enqueue) is ignored; events rejected as invalid are set aside, not lost', async () => {
    let queue = await EventQueue.open(dir.path, cipher, log);
    await queue.enqueue(event(0));
    await queue.enqueue(event(1, { kind: 'invalid' }));
    await queue.enqueue(event(2));
    await appendFile(join(dir.path, 'queue.jsonl'), '{"k":"torn","e":"AAA');
    queue.dispose();
    queue = await EventQueue.open(dir.path, cipher, log);
    assert.equal(queue.size, 3);
    const daemon = await startDaemon();
    await queue.drain(daemon.send);
    assert.deepEqual(order(await daemon.entries()), ['0', '2']);
    const rejected = (await readFile(join(dir.path, 'rejected.jsonl'), 'utf8')).trim().split('\n');
    assert.equal(rejected.length, 1);
    const item = JSON.parse(rejected[0] ?? '{}') as { error: { code: string }; e: string };
    assert.equal(item.error.code, 'invalid_params');
    assert.equal((JSON.parse(cipher.open(item.e)) as { metadata: { n: number } }).metadata.n, 1);
    assert.ok(logs.some((l) => l.includes('rejected an event')));
    assert.deepEqual((await readdir(dir.path)).sort(), ['queue.cursor', 'queue.jsonl', 'rejected.jsonl']);
  });

  // The real daemon answers busy only under load: a scripted answer stands in for it here.
  test('busy from the daemon keeps the rest queued in order', async () => {
    const queue = await EventQueue.open(dir.path, cipher, log);
    for (let n = 0; n < 4; n++) await queue.enqueue({ kind: 'chat.input', n });
    let calls = 0;
    const send: BatchSender = async (events) => {
      calls++;
      return events.map((e, i): IngestAck | IngestRejected =>
        calls === 1 && i >= 2 ? { error: { code: 'busy', message: 'retry' } } : { seq: Number(e.n) + 1, id: `id${String(e.n)}` },
      );
    };
    await assert.rejects(queue.drain(send), /busy/);
    assert.equal(queue.size, 2);
    await queue.drain(send);
    assert.equal(queue.size, 0);
  });

  test('another key cannot read the queue', async () => {
    const queue = await EventQueue.open(dir.path, cipher, log);
    await queue.enqueue(event(0));
    queue.dispose();
    const other = await EventQueue.open(dir.path, createQueueCipher(randomBytes(32)), log);
    assert.equal(other.size, 0);
    assert.ok(logs.some((l) => l.includes('unreadable line')));
    // The unreadable line is kept aside, and new events line up with the cursor again.
    await other.enqueue(event(1));
    const daemon = await startDaemon();
    await other.drain(daemon.send);
    assert.deepEqual(order(await daemon.entries()), ['1']);
    assert.match(await readFile(join(dir.path, 'rejected.jsonl'), 'utf8'), /unreadable/);
  });
});
