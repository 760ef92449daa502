import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { appendFile, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { IngestAck, IngestRejected } from '../../../daemon/protocol/messages.ts';
import { EventQueue, type BatchSender } from '../../../extension/daemon/eventQueue.ts';
import { createQueueCipher } from '../../../extension/daemon/queueCipher.ts';
import { tempDir } from '../../support/tempDir.ts';

/** A stand-in daemon for the queue's unit tests: stores by idempotency key like the real one. */
function recordingSender() {
  const stored = new Map<string, IngestAck>();
  const order: string[] = [];
  let failNext = 0;
  const send: BatchSender = async (events) => {
    if (failNext > 0) {
      failNext--;
      throw new Error('connection lost');
    }
    return events.map((event): IngestAck | IngestRejected => {
      if (event.kind === 'invalid') return { error: { code: 'invalid_params', message: 'invalid event: kind' } };
      const key = String(event.idempotency_key);
      const seen = stored.get(key);
      if (seen !== undefined) return { ...seen, duplicate: true };
      const ack = { seq: stored.size + 1, id: `id-${stored.size + 1}` };
      stored.set(key, ack);
      order.push(String(event.n));
      return ack;
    });
  };
  return { send, stored, order, failOnce: (n = 1) => (failNext = n) };
}

describe('EventQueue (the extension durable outbox)', () => {
  let dir: { path: string; dispose(): Promise<void> };
  const key = randomBytes(32);
  const cipher = createQueueCipher(key);
  const logs: string[] = [];
  const log = (m: string) => logs.push(m);

  beforeEach(async () => {
    dir = await tempDir('queue');
    logs.length = 0;
  });
  afterEach(() => dir.dispose());

  test('events are durable before enqueue resolves, sealed at rest, and sent in order once', async () => {
    const queue = await EventQueue.open(dir.path, cipher, log);
    for (let n = 0; n < 5; n++) await queue.enqueue({ kind: 'chat.input', n, input: `secret prompt ${n}` });
    const onDisk = await readFile(join(dir.path, 'queue.jsonl'), 'utf8');
    assert.equal(onDisk.trim().split('\n').length, 5);
    assert.ok(!onDisk.includes('secret prompt'), 'queued content is sealed at rest');
    const daemon = recordingSender();
    await queue.drain(daemon.send);
    assert.deepEqual(daemon.order, ['0', '1', '2', '3', '4']);
    assert.equal(queue.size, 0);
    assert.equal(await readFile(join(dir.path, 'queue.jsonl'), 'utf8'), '');
  });

  test('what was not acknowledged survives a restart and is sent without duplicates', async () => {
    const daemon = recordingSender();
    let queue = await EventQueue.open(dir.path, cipher, log);
    for (let n = 0; n < 3; n++) await queue.enqueue({ kind: 'chat.input', n });
    daemon.failOnce();
    await assert.rejects(queue.drain(daemon.send));
    assert.equal(queue.size, 3);
    queue.dispose();
    // A new session (the editor restarted) finds them and sends them.
    queue = await EventQueue.open(dir.path, cipher, log);
    assert.equal(queue.size, 3);
    await queue.drain(daemon.send);
    assert.equal(daemon.stored.size, 3);
    // A crash after the daemon acked but before the cursor was written: the resend is deduplicated.
    await queue.enqueue({ kind: 'chat.input', n: 3 });
    const lines = (await readFile(join(dir.path, 'queue.jsonl'), 'utf8')).trim().split('\n');
    await queue.drain(daemon.send);
    await appendFile(join(dir.path, 'queue.jsonl'), lines.map((l) => `${l}\n`).join(''));
    queue = await EventQueue.open(dir.path, cipher, log);
    const acks: Array<IngestAck> = [];
    queue.onAck((_k, ack) => acks.push(ack));
    await queue.drain(daemon.send);
    assert.equal(daemon.stored.size, 4, 'the resent event was recognized by its idempotency key');
    assert.equal(acks[0]?.duplicate, true);
  });

  test('a torn last line (crash during enqueue) is ignored; events rejected as invalid are set aside, not lost', async () => {
    let queue = await EventQueue.open(dir.path, cipher, log);
    await queue.enqueue({ kind: 'chat.input', n: 0 });
    await queue.enqueue({ kind: 'invalid', n: 1 });
    await queue.enqueue({ kind: 'chat.input', n: 2 });
    await appendFile(join(dir.path, 'queue.jsonl'), '{"k":"torn","e":"AAA');
    queue.dispose();
    queue = await EventQueue.open(dir.path, cipher, log);
    assert.equal(queue.size, 3);
    const daemon = recordingSender();
    await queue.drain(daemon.send);
    assert.deepEqual(daemon.order, ['0', '2']);
    const rejected = (await readFile(join(dir.path, 'rejected.jsonl'), 'utf8')).trim().split('\n');
    assert.equal(rejected.length, 1);
    const item = JSON.parse(rejected[0] ?? '{}') as { error: { code: string }; e: string };
    assert.equal(item.error.code, 'invalid_params');
    assert.equal((JSON.parse(cipher.open(item.e)) as { n: number }).n, 1);
    assert.ok(logs.some((l) => l.includes('rejected an event')));
    assert.deepEqual((await readdir(dir.path)).sort(), ['queue.cursor', 'queue.jsonl', 'rejected.jsonl']);
  });

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
    await queue.enqueue({ kind: 'chat.input', n: 0 });
    queue.dispose();
    const other = await EventQueue.open(dir.path, createQueueCipher(randomBytes(32)), log);
    assert.equal(other.size, 0);
    assert.ok(logs.some((l) => l.includes('unreadable line')));
    // The unreadable line is kept aside, and new events line up with the cursor again.
    await other.enqueue({ kind: 'chat.input', n: 1 });
    const daemon = recordingSender();
    await other.drain(daemon.send);
    assert.deepEqual(daemon.order, ['1']);
    assert.match(await readFile(join(dir.path, 'rejected.jsonl'), 'utf8'), /unreadable/);
  });
});
