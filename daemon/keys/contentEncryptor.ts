import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { EncryptReply, EncryptRequest } from './contentCipherWorker.ts';

/** Set by scripts/build.mjs to the worker's chunk beside the CLI bundle; undefined when running from source. */
declare const CONTENT_CIPHER_WORKER: string | undefined;

/**
 * Batches with fewer fields (counted over the whole batch, before it is split) stay on the calling thread: a
 * round trip to the worker (~50–100 µs) would lengthen a small request's ack by more than its encryption takes
 * (~15 µs per field). Applied here only (`sealFirstHalf`).
 */
export const MIN_FIELDS_FOR_WORKER = 32;

/**
 * The worker (its own V8 heap: ~20–25 MB of RSS) is stopped after this long without a batch, so that an idle
 * daemon stays within its memory bound; the next large batch starts it again (tens of ms, once).
 */
const IDLE_STOP_MS = 30_000;

/**
 * Encrypts the content fields of a batch on one worker thread, with the same `encryptField` (Node's
 * AES-256-GCM): on 2 cores the ingest thread is the bottleneck in encrypted mode, and each field costs it
 * ~15 µs of OpenSSL context set-up there against ~1 µs to hand it over (docs/decisions.md, "Performance:
 * encrypted mode, session 5"). Never rejects: when the worker cannot be used (it failed to start, died,
 * or answered something unexpected) the answer is `null` and the caller encrypts in its own thread, as
 * before, so a worker problem never loses or changes an entry.
 */
export class ContentEncryptor {
  private worker: Worker | null = null;
  private broken = false;
  private nextId = 0;
  private readonly pending = new Map<number, { count: number; resolve: (sealed: string[] | null) => void }>();
  private idleTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly log: (line: string) => void,
    private readonly minFields = MIN_FIELDS_FOR_WORKER,
    private readonly idleStopMs = IDLE_STOP_MS,
  ) {}

  /**
   * Sends the first half (rounded up) of a batch's fields to the worker, for the caller to encrypt the rest in
   * the meantime, so that the batch waits for half the work on each core. `fields` are plaintext, AAD,
   * plaintext, AAD, …; `sealed` resolves to the first `count` fields sealed, in that order, or `null` (the
   * worker went out of use: the caller encrypts them). Returns `null` at once (no promise, no await) for a
   * batch that stays on the calling thread: fewer than `minFields` fields, or no worker.
   */
  sealFirstHalf(key: Buffer, fields: string[]): { count: number; sealed: Promise<string[] | null> } | null {
    const total = fields.length / 2;
    if (this.broken || total < this.minFields) return null;
    const count = Math.ceil(total / 2);
    const sealed = this.seal(key, fields.slice(0, 2 * count));
    return sealed === null ? null : { count, sealed };
  }

  private seal(key: Buffer, fields: string[]): Promise<string[] | null> | null {
    const count = fields.length / 2;
    const worker = this.worker ?? this.start();
    if (worker === null) return null;
    const id = this.nextId++;
    this.stopIdleTimer();
    return new Promise((resolve) => {
      if (this.pending.size === 0) worker.ref();
      this.pending.set(id, { count, resolve });
      // The key is copied to the worker, in this process; never logged or sent anywhere else. Only its 32
      // bytes: a structured clone of a Buffer copies the whole memory it views, and a key read from the
      // keychain (`Buffer.from(text, 'base64')`) views Node's shared 8 KB pool, beside the HMAC and signing
      // keys read with it. The copy is handed over (transferred), not kept here.
      const own = new Uint8Array(key);
      const request: EncryptRequest = { id, key: own, fields };
      worker.postMessage(request, [own.buffer]);
    });
  }

  /** Stops the worker; batches still waiting resolve to `null`. */
  async dispose(): Promise<void> {
    this.broken = true;
    this.stopIdleTimer();
    const worker = this.worker;
    this.worker = null;
    this.settleAll();
    if (worker !== null) await worker.terminate();
  }

  private start(): Worker | null {
    try {
      const worker = newWorker();
      // Kept referenced only while a batch waits, so an idle worker never holds the process open.
      worker.unref();
      worker.on('message', (reply: EncryptReply) => this.answer(reply));
      // Only the current worker's end is a failure: one stopped for idleness has been replaced already.
      worker.on('error', (error: unknown) => {
        if (this.worker === worker) this.fail(`encryption worker failed (encrypting in the ingest thread from now on): ${String(error)}`);
      });
      worker.on('exit', () => {
        if (this.worker === worker) this.fail('encryption worker stopped (encrypting in the ingest thread from now on)');
      });
      this.worker = worker;
      return worker;
    } catch (error: unknown) {
      this.fail(`encryption worker could not start (encrypting in the ingest thread): ${String(error)}`);
      return null;
    }
  }

  private answer(reply: EncryptReply): void {
    const waiting = this.pending.get(reply.id);
    if (waiting === undefined) return;
    this.pending.delete(reply.id);
    if (this.pending.size === 0) {
      this.worker?.unref();
      this.armIdleTimer();
    }
    const { sealed } = reply;
    // A worker file from another build (replaced by an upgrade while the daemon ran) could answer in another
    // shape: anything but one `v1.` field per request field goes back to the calling thread.
    if (sealed === null) return waiting.resolve(null);
    if (!Array.isArray(sealed) || sealed.length !== waiting.count || !sealed.every((field) => typeof field === 'string' && field.startsWith('v1.'))) {
      this.fail('encryption worker answered in an unexpected shape (encrypting in the ingest thread from now on)');
      return waiting.resolve(null);
    }
    waiting.resolve(sealed);
  }

  private fail(line: string): void {
    if (this.broken) return this.settleAll();
    this.broken = true;
    this.log(line);
    const worker = this.worker;
    this.worker = null;
    this.settleAll();
    void worker?.terminate();
  }

  private armIdleTimer(): void {
    this.stopIdleTimer();
    this.idleTimer = setTimeout(() => {
      this.idleTimer = null;
      const worker = this.worker;
      if (worker === null || this.pending.size > 0) return;
      this.worker = null;
      void worker.terminate();
    }, this.idleStopMs);
    this.idleTimer.unref();
  }

  private stopIdleTimer(): void {
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    this.idleTimer = null;
  }

  /** Whether a worker thread is running now (for tests). */
  get running(): boolean {
    return this.worker !== null;
  }

  private settleAll(): void {
    for (const waiting of this.pending.values()) waiting.resolve(null);
    this.pending.clear();
  }
}

function newWorker(): Worker {
  if (typeof CONTENT_CIPHER_WORKER === 'string') return new Worker(new URL(CONTENT_CIPHER_WORKER, import.meta.url));
  // From source (tests and bench under tsx): Node 20 does not carry the loader hooks of `--import tsx` into
  // a worker, so the worker registers them itself before it loads the TypeScript body.
  // tsx's ES-module API (`require.resolve` finds its CommonJS twin, whose `register` does not reach a worker's
  // imports); not `import.meta.resolve`, which the CommonJS bundle's build cannot carry even in a branch it never takes.
  const tsx = JSON.stringify(pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm/api')).href.replace(/\.cjs$/, '.mjs'));
  const body = JSON.stringify(new URL('./contentCipherWorker.ts', import.meta.url).href);
  return new Worker(`import(${tsx}).then((api) => { api.register(); return import(${body}); });`, { eval: true });
}
