import { randomUUID } from 'node:crypto';
import { appendFile, mkdir, open, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { IngestAck, IngestRejected } from '../../daemon/protocol/messages.ts';

/** Seals queued events at rest: they may hold prompt text until the daemon has them. */
export interface QueueCipher {
  seal(plaintext: string): string;
  open(sealed: string): string;
}

/** Sends one batch to the daemon; rejects when the daemon cannot be reached (the batch stays queued). */
export type BatchSender = (events: ReadonlyArray<Record<string, unknown>>) => Promise<Array<IngestAck | IngestRejected>>;

interface Queued {
  key: string;
  event: Record<string, unknown>;
}

const QUEUE_FILE = 'queue.jsonl';
const CURSOR_FILE = 'queue.cursor';
const REJECTED_FILE = 'rejected.jsonl';
const BATCH = 500;

/**
 * The extension's durable outbox. Every event is appended (sealed, fsync'ed) before `enqueue` resolves,
 * then sent to the daemon in order, in batches, each with an idempotency key so that a resend after a
 * lost ack or a crash is stored once. The cursor file counts the lines the daemon has acknowledged; the
 * files are emptied when everything is acknowledged. Events the daemon rejects as invalid are moved to
 * `rejected.jsonl` (sealed) and reported, never dropped silently.
 */
export class EventQueue {
  private readonly dir: string;
  private readonly cipher: QueueCipher;
  private readonly log: (message: string) => void;
  private pending: Queued[] = [];
  private done = 0;
  private draining: Promise<void> | null = null;
  private appendChain: Promise<void> = Promise.resolve();
  private disposed = false;
  private readonly ackListeners = new Set<(key: string, ack: IngestAck) => void>();

  private constructor(dir: string, cipher: QueueCipher, log: (message: string) => void) {
    this.dir = dir;
    this.cipher = cipher;
    this.log = log;
  }

  /** Opens the queue in `dir`, reloading what an earlier session left unsent. */
  static async open(dir: string, cipher: QueueCipher, log: (message: string) => void): Promise<EventQueue> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const queue = new EventQueue(dir, cipher, log);
    const cursor = Number.parseInt(await readFile(join(dir, CURSOR_FILE), 'utf8').catch(() => '0'), 10) || 0;
    const text = await readFile(join(dir, QUEUE_FILE), 'utf8').catch(() => '');
    const lines = text.split('\n');
    // A last line without its newline was cut by a crash before enqueue resolved: it was never promised.
    if (!text.endsWith('\n')) lines.pop();
    const kept: string[] = [];
    const unreadable: string[] = [];
    for (const line of lines.slice(cursor)) {
      if (line === '') continue;
      try {
        const { k, e } = JSON.parse(line) as { k: string; e: string };
        queue.pending.push({ key: k, event: JSON.parse(cipher.open(e)) as Record<string, unknown> });
        kept.push(line);
      } catch (error: unknown) {
        unreadable.push(line);
        log(`queue: an unreadable line was set aside in ${REJECTED_FILE} (${error instanceof Error ? error.message : String(error)})`);
      }
    }
    if (unreadable.length > 0) {
      // Keep the file's lines and the pending list in step (the cursor counts lines): rewrite it.
      await appendFile(join(dir, REJECTED_FILE), unreadable.map((l) => JSON.stringify({ unreadable: l }) + '\n').join(''), { mode: 0o600 });
      await writeFile(join(dir, `${QUEUE_FILE}.tmp`), kept.map((l) => `${l}\n`).join(''), { mode: 0o600 });
      await rename(join(dir, `${QUEUE_FILE}.tmp`), join(dir, QUEUE_FILE));
      await queue.writeCursor(0);
      queue.done = 0;
      if (queue.pending.length > 0) log(`queue: ${queue.pending.length} events from an earlier session wait for the daemon`);
      return queue;
    }
    queue.done = cursor;
    if (queue.pending.length > 0) log(`queue: ${queue.pending.length} events from an earlier session wait for the daemon`);
    return queue;
  }

  get size(): number {
    return this.pending.length;
  }

  /** Called with each event's ack (duplicates included), for the UI to show audit seqs. */
  onAck(listener: (key: string, ack: IngestAck) => void): { dispose(): void } {
    this.ackListeners.add(listener);
    return { dispose: () => this.ackListeners.delete(listener) };
  }

  /**
   * Makes the event durable locally and returns its idempotency key; sending happens in the background.
   * An event without `ts` gets the time of this call.
   */
  async enqueue(event: Record<string, unknown>): Promise<string> {
    if (this.disposed) throw new Error('the event queue is closed');
    const key = typeof event.idempotency_key === 'string' ? event.idempotency_key : randomUUID();
    // `ts` is when it happened: without it the daemon would stamp the time the outbox drained.
    const ts = typeof event.ts === 'string' ? event.ts : new Date().toISOString();
    const withKey = { ...event, ts, idempotency_key: key };
    const line = JSON.stringify({ k: key, e: this.cipher.seal(JSON.stringify(withKey)) }) + '\n';
    const append = this.appendChain.then(async () => {
      const handle = await open(join(this.dir, QUEUE_FILE), 'a', 0o600);
      try {
        await handle.appendFile(line);
        await handle.datasync();
      } finally {
        await handle.close();
      }
      this.pending.push({ key, event: withKey });
    });
    this.appendChain = append.catch(() => undefined);
    await append;
    return key;
  }

  /**
   * Sends everything queued, in order, until the queue is empty or the sender fails (then it stops and
   * the caller retries later, e.g. on reconnect). Concurrent calls share one drain.
   */
  drain(send: BatchSender): Promise<void> {
    this.draining ??= this.drainLoop(send).finally(() => {
      this.draining = null;
    });
    return this.draining;
  }

  private async drainLoop(send: BatchSender): Promise<void> {
    while (this.pending.length > 0 && !this.disposed) {
      const batch = this.pending.slice(0, BATCH);
      const results = await send(batch.map((q) => q.event));
      const retry = results.findIndex((r) => 'error' in r && (r.error.code === 'busy' || r.error.code === 'disk_full' || r.error.code === 'shutting_down'));
      // Up to the first event the daemon could not take right now, everything is settled.
      const settled = retry === -1 ? batch.length : retry;
      const rejected: string[] = [];
      for (let i = 0; i < settled; i++) {
        const result = results[i];
        const item = batch[i];
        if (result === undefined || item === undefined) continue;
        if ('error' in result) {
          this.log(`queue: the daemon rejected an event (${result.error.code}: ${result.error.message}); kept in ${REJECTED_FILE}`);
          rejected.push(JSON.stringify({ k: item.key, error: result.error, e: this.cipher.seal(JSON.stringify(item.event)) }) + '\n');
        } else {
          for (const listener of this.ackListeners) listener(item.key, result);
        }
      }
      if (rejected.length > 0) await appendFile(join(this.dir, REJECTED_FILE), rejected.join(''), { mode: 0o600 });
      await this.settle(settled);
      if (retry !== -1) throw new Error(`the daemon is not accepting events right now (${(results[retry] as IngestRejected).error.code})`);
    }
  }

  /** Records that the first `count` pending events are acknowledged (or set aside). */
  private async settle(count: number): Promise<void> {
    if (count === 0) return;
    this.pending = this.pending.slice(count);
    this.done += count;
    // Serialized with appends, so that compaction never races an event being enqueued.
    const write = this.appendChain.then(async () => {
      if (this.pending.length === 0) {
        // All acknowledged: cursor to 0 first, then empty the queue. A crash in between only resends
        // events the daemon recognizes by their idempotency keys; the other order could skip new ones.
        this.done = 0;
        await this.writeCursor(0);
        await writeFile(join(this.dir, QUEUE_FILE), '', { mode: 0o600 });
      } else {
        await this.writeCursor(this.done);
      }
    });
    this.appendChain = write.catch(() => undefined);
    await write;
  }

  private async writeCursor(value: number): Promise<void> {
    const tmp = join(this.dir, `${CURSOR_FILE}.tmp`);
    await writeFile(tmp, String(value), { mode: 0o600 });
    await rename(tmp, join(this.dir, CURSOR_FILE));
  }

  dispose(): void {
    this.disposed = true;
    this.ackListeners.clear();
  }
}
