import { join } from 'node:path';
import { GENESIS_HASH, type AuditKind, type ContentMode, type Entry, type JsonValue, type Actor } from '../protocol/entry.ts';
import { AuditError, ErrorCodes } from '../protocol/errors.ts';
import type { CheckpointRef, EntryFilter, IngestAck, IngestRejected, Stats, StatsGroupBy, VerifyReport } from '../protocol/messages.ts';
import type { KeyMaterial } from '../keys/keyMaterial.ts';
import { appendCheckpoint, checkCheckpointChain, checkpointLink, readCheckpoints, repairCheckpointsTail, signCheckpoint, type Checkpoint } from './checkpoints.ts';
import { MAX_UNSIGNED_ENTRIES, MAX_UNSIGNED_MS, verifyStore } from './chainVerifier.ts';
import { decodeCursor, encodeCursor } from './cursor.ts';
import { buildEntry, contentModeOf, isWireError, parseEvent, type StorableEvent } from './entryBuilder.ts';
import { ContentEncryptor } from '../keys/contentEncryptor.ts';
import { encryptField } from '../keys/contentCipher.ts';
import { compileFilter } from './entryFilter.ts';
import { LineBatch } from './lineBatch.ts';
import { LineBlockReader } from './lineBlockReader.ts';
import { QueryReadAhead, type QueryPage } from './queryReadAhead.ts';
import { readLinesBackward, readLinesForward, readListedLinesBackward, type SegmentLine } from './segmentReader.ts';
import { SegmentStore } from './segmentStore.ts';
import { addToSummary, emptySummary, hasSummaryFields, SPARSE_STEP, type SegmentSummary } from './segmentSummary.ts';
import { GroupAccumulator } from './statsGroups.ts';
import { idempotencyDigest, IdempotencyWindow } from './idempotencyWindow.ts';
import { uuidv7, uuidv7Time } from './uuidv7.ts';
import { ingestTrace } from '../ingestTrace.ts';

export interface AuditStoreOptions {
  home: string;
  keys: KeyMaterial;
  /** The content mode for events that do not name one (read at each batch: settings can change). */
  contentMode: () => ContentMode;
  log: (message: string) => void;
  segmentMaxBytes?: number;
  /** Most events waiting for their fsync before ingest answers `busy`. */
  maxPendingEvents?: number;
  /** How many recent idempotency keys are remembered (and reloaded on start). */
  idempotencyWindow?: number;
  /** A signed checkpoint is written after this many new entries (at most, and by default, 10,000) … */
  checkpointEveryEntries?: number;
  /** … or this many milliseconds after the first entry not yet covered by one. */
  checkpointEveryMs?: number;
  /** Clock, for tests. */
  now?: () => number;
  /**
   * For tests: awaited before a reader (query, get, stats, verify, an export's walk) opens a segment it
   * listed, so that a test can run retention between the listing and the read (docs/decisions.md).
   */
  beforeSegmentRead?: (segment: number) => Promise<void>;
}

/** The outcome of one queued event: its ack once durable, or why it was not stored. */
type Settle = (result: IngestAck | AuditError) => void;

interface Pending {
  event: StorableEvent;
  settle: Settle;
  /** `idempotencyDigest` of the event's key, computed once for the window's `get` and `set`. */
  digest?: string;
  /** Resends of the same idempotency key that arrived while this event was queued or being written. */
  followers?: Settle[];
}

type EntriesListener = (entries: readonly Entry[]) => void;

const DISK_FULL_RETRY_MS = 1000;
/**
 * Shortest and longest wait (ms) for as many senders as the previous batch held before a batch with fewer
 * is written. Clients with one request outstanding come back right after their ack: without the wait, the
 * first one back is written alone and the rest form the next batch, two fdatasyncs where one would do.
 * Within these bounds the wait is as long as a recent write + fdatasync took: a request that misses the
 * batch waits for that batch's sync and then its own, so waiting up to one sync for it costs the batch no
 * more than it saves the latecomer, and spares the disk a sync. When syncs slow down (a busy disk), the
 * clients' turnaround usually does too, and a fixed 1 ms split most batches.
 */
const GROUP_LINGER_MIN_MS = 1;
const GROUP_LINGER_MAX_MS = 4;
/**
 * A request that comes more than this long (ms, by the store's clock) after the last batch was acknowledged
 * starts an idle period: it is written at once, whoever was in that batch. The wait is for clients that come
 * back right after their ack; on a loaded machine that turnaround reached several ms (with 4 ms, 8
 * closed-loop clients' syncs per event rose from 0.13–0.14 to 0.15–0.16), while an editor's events are
 * far more than 20 ms apart.
 */
const GROUP_IDLE_MS = 20;
/**
 * A batch of at most this many events, when recent syncs were quick (at most SYNC_HERE_MAX_MS on average), is
 * fdatasync'ed on the event loop instead of libuv's thread pool. A pool round trip (the work queued, a pool
 * thread woken, its completion signalled back to the loop) cost about five futex calls, an eventfd write, an
 * extra wake of the loop and two context switches per batch: most of the futex calls and a third of the
 * context switches per event of single-event requests (docs/decisions.md, "Performance: one event per
 * request, session 6"). Small batches are what single-event clients make; while such a batch syncs nothing is
 * left to do (its senders wait for their acks), and frames that arrive meanwhile are read right after it, as
 * they would have waited for this sync anyway. Under heavier load batches grow past the bound and the sync
 * goes back to the pool, where the loop parses the next frames meanwhile; a slow disk (a moving average above
 * the bound) does too, so that reads are never held for long.
 */
const SYNC_HERE_MAX_EVENTS = 16;
const SYNC_HERE_MAX_MS = 4;

/** How batches were formed (for tests and profiles): every wait for senders, and those the timer ended. */
export interface GroupCommitCounts {
  batches: number;
  waits: number;
  waitsTimedOut: number;
}

/**
 * The audit store: the single writer of one data dir. Ingest stamps, converts content, chains and
 * appends events in group commits: every batch is written and fdatasync'ed once, then all of its
 * events are acknowledged together. Reads (query, get, stats, verify) look only at committed bytes.
 */
export class AuditStore {
  private readonly segments: SegmentStore;
  private readonly options: AuditStoreOptions;
  private keys: KeyMaterial;
  private readonly now: () => number;
  private readonly maxPending: number;
  private readonly idempotencyWindow: number;
  private pending: Pending[] = [];
  /**
   * Senders with requests in `pending` (a connection, or each request of a caller that names none), and how
   * many the last batch expects back (see GROUP_LINGER_MIN_MS). Counted by sender, not by request: a client
   * with many requests outstanding (a steady stream, or a burst split by a sync) is already here once one of
   * its requests is, and waiting for its others would only wait for a timer.
   */
  private pendingSenders = new Set<unknown>();
  private lastBatchSenders = 0;
  /** When (store clock, ms) the last batch was acknowledged: the start of an idle period (GROUP_IDLE_MS). */
  private lastBatchAt = Number.NEGATIVE_INFINITY;
  private readonly counts: GroupCommitCounts = { batches: 0, waits: 0, waitsTimedOut: 0 };
  /** With AI_AUDIT_TRACE_INGEST: [flush turn started, wait ended, ms waited] of the batch being committed. */
  private traced: number[] = [];
  /** Recent write + fdatasync duration of a batch (ms, moving average): the linger's bound. */
  private syncMs = GROUP_LINGER_MIN_MS;
  /** Ends the linger before a batch, once enough requests are queued. */
  private gathered: (() => void) | null = null;
  private flushing: Promise<void> | null = null;
  /** Serializes writers of the files (flush, retention, checkpoints). */
  private exclusive: Promise<unknown> = Promise.resolve();
  /** The most recently acknowledged keys (compact: a digest per key, outside the JS heap). */
  private readonly acked: IdempotencyWindow;
  /**
   * Queued or being written, by idempotency key: a resend waits for the original's outcome. Replaced by a new
   * map whenever it empties (see `settle`): V8 links each table a Map outgrows to its successor, so with
   * every event set and deleted, a dead table promoted to the old generation kept the next one, and through
   * it every later request's event, alive across scavenges until a full collection (~0.5 MB promoted per
   * scavenge at 1,000 single-event requests/s; docs/decisions.md, "one event per request, session 6").
   */
  private inflight = new Map<string, Pending>();
  private readonly listeners = new Set<EntriesListener>();
  /** Encrypts the content of large encrypted-mode batches on a worker thread. */
  private readonly encryptor: ContentEncryptor;
  private readonly readAhead = new QueryReadAhead();
  private lastRecordedMs = 0;
  private diskFullSince: number | null = null;
  private lastCheckpointSeq = 0;
  /** `recorded_at` (ms) of the first entry after the newest signed record; null when the end is signed. */
  private unsignedSinceMs: number | null = null;
  /** The newest record of checkpoints.jsonl: the next one links to it. */
  private lastRecord: Checkpoint | null = null;
  private recordCount = 0;
  /** The newest record at start, when it is a `repair` (see `bridge`). */
  private repairRecord: Checkpoint | null = null;
  private readOnlyReason: { code: string; message: string } | null = null;
  private checkpointTimer: NodeJS.Timeout | null = null;
  private closed = false;
  /** The verifies running: closing the store ends them, with their worker threads. */
  private readonly verifying = new Set<AbortController>();

  private constructor(segments: SegmentStore, options: AuditStoreOptions) {
    this.segments = segments;
    this.options = options;
    this.keys = options.keys;
    this.now = options.now ?? Date.now;
    this.maxPending = options.maxPendingEvents ?? 200_000;
    this.idempotencyWindow = options.idempotencyWindow ?? 100_000;
    this.acked = new IdempotencyWindow(this.idempotencyWindow);
    // It decides which batches go to its worker (sealContent hands it the whole batch's fields).
    this.encryptor = new ContentEncryptor(options.log);
  }

  static async open(options: AuditStoreOptions): Promise<AuditStore> {
    await repairCheckpointsTail(options.home, options.log);
    const file = await readCheckpoints(options.home);
    const signedSeq = file.checkpoints.reduce((max, c) => Math.max(max, c.seq), 0);
    const segments = await SegmentStore.open({
      home: options.home,
      segmentMaxBytes: options.segmentMaxBytes,
      log: options.log,
      summaryKeys: { activeId: options.keys.hmac.id, keys: options.keys.hmacKeys },
      signedSeq,
    });
    const store = new AuditStore(segments, options);
    store.lastCheckpointSeq = signedSeq;
    store.lastRecord = file.checkpoints.at(-1) ?? null;
    store.recordCount = file.checkpoints.length;
    if (store.lastRecord?.type === 'repair') store.repairRecord = store.lastRecord;
    const last = segments.list().at(-1);
    if (last !== undefined && last.last_recorded !== '') store.lastRecordedMs = Date.parse(last.last_recorded);
    await store.loadIdempotencyKeys();
    store.readOnlyReason = segments.damage ?? (await store.checkUnsignedTail(file));
    if (store.readOnlyReason !== null) {
      options.log(`READ-ONLY: ${store.readOnlyReason.message}`);
    } else {
      if (store.lastSeq > store.lastCheckpointSeq) {
        const first = await store.get({ seq: store.lastCheckpointSeq + 1 }).catch(() => null);
        store.unsignedSinceMs = first === null ? store.lastRecordedMs : Date.parse(first.recorded_at);
      }
      // Entries recovered after a crash are signed now (the chain up to them was just verified), so a later
      // truncation of them is detectable. A full disk must not stop the start: it is retried every minute.
      await store.writeCheckpoint().catch((error: unknown) => options.log(`checkpoint at start failed (retried later): ${String(error)}`));
    }
    const interval = options.checkpointEveryMs ?? 60_000;
    store.checkpointTimer = setInterval(() => {
      store.writeCheckpoint().catch((error: unknown) => options.log(`checkpoint failed (retried later): ${String(error)}`));
    }, interval);
    store.checkpointTimer.unref();
    return store;
  }

  /**
   * A restart never signs a chain it has not verified up to the newest signature: the records of
   * checkpoints.jsonl (signatures and their chain), the entry the newest one names, and every entry after it.
   */
  private async checkUnsignedTail(file: Awaited<ReturnType<typeof readCheckpoints>>): Promise<{ code: string; message: string } | null> {
    const chain = checkCheckpointChain(file, this.keys.signingPublicKeys, { signatures: 'unlinked' });
    if (chain !== null) return { code: 'unverified_chain', message: `checkpoints.jsonl is damaged (${chain.reason}); the daemon will not sign or write until this is resolved (see \`ai-audit verify\`)` };
    const newest = file.checkpoints.at(-1);
    let fromSeq = 1;
    if (newest !== undefined) {
      if (newest.type === 'anchor') fromSeq = newest.seq + 1;
      else if (newest.type === 'repair') fromSeq = Math.max(1, newest.lost_after ?? newest.seq);
      else fromSeq = newest.seq;
    }
    const list = this.segments.list();
    const from = list.find((s) => s.count > 0 && s.last_seq >= fromSeq);
    const report = await verifyStore(this.options.home, {
      publicKeys: this.keys.signingPublicKeys,
      committedBytes: this.segments.committedBytes(),
      checkedCheckpoints: file,
      // The store just listed them at open, and cut off or removed whatever a crash left after the end.
      segments: list.map(({ segment, file: path }) => ({ segment, file: path })),
      ...(newest === undefined ? {} : { fromSeq }),
      ...(from === undefined || newest === undefined ? {} : { fromSegment: from.segment, fromOffset: from.offsets[Math.floor(Math.max(0, fromSeq - from.first_seq) / SPARSE_STEP)] ?? 0 }),
    });
    if (report.ok) return null;
    const p = report.problem;
    return {
      code: 'unverified_chain',
      message:
        `the chain after the newest signed checkpoint does not verify (${p?.reason ?? 'unknown'} [${p?.code ?? '?'}] at seq ${p?.seq ?? '?'}); ` +
        'the daemon will not sign it or write after it. Run `ai-audit verify`, then restore from a backup or run `ai-audit repair`.',
    };
  }

  /** Why the daemon does not write, or null. */
  get readOnly(): { code: string; message: string } | null {
    return this.readOnlyReason;
  }

  /** The newest signed record and the chain's end (for witnesses). */
  latestCheckpoint(): { checkpoint: Checkpoint | null; last_seq: number; last_hash: string } {
    return { checkpoint: this.lastRecord, last_seq: this.lastSeq, last_hash: this.lastHash };
  }

  get lastSeq(): number {
    const bridge = this.bridge;
    return bridge !== null && bridge.seq > this.segments.lastSeq ? bridge.seq : this.segments.lastSeq;
  }

  get lastHash(): string {
    const bridge = this.bridge;
    return bridge !== null && bridge.seq > this.segments.lastSeq ? bridge.hash : (this.segments.lastHash ?? GENESIS_HASH);
  }

  /** After `ai-audit repair` lost signed entries, the chain goes on from the signed hash it names. */
  private get bridge(): { seq: number; hash: string } | null {
    const record = this.repairRecord;
    if (record?.type !== 'repair' || record.lost_after !== this.segments.lastSeq) return null;
    return { seq: record.seq, hash: record.hash };
  }

  get entryCount(): number {
    return this.segments.totalEntries;
  }

  get segmentCount(): number {
    return this.segments.list().filter((s) => s.count > 0).length;
  }

  get storeBytes(): number {
    return this.segments.totalBytes;
  }

  get firstSeq(): number | null {
    return this.segments.list().find((s) => s.count > 0)?.first_seq ?? null;
  }

  /**
   * The first seq of the oldest segment that may hold an entry matching `filter` (by its summary, as
   * `query` prunes), or the seq after the end when none may. Segments are in seq order, so nothing before
   * it matches: a filtered export (`--since`) starts its range there instead of at the store's start.
   */
  firstSeqThatMayMatch(filter: EntryFilter | undefined): number {
    const compiled = compileFilter(filter);
    return this.segments.list().find((s) => s.count > 0 && compiled.mayMatch(s))?.first_seq ?? this.lastSeq + 1;
  }

  get diskFull(): boolean {
    return this.diskFullSince !== null;
  }

  get queueDepth(): number {
    return this.pending.length;
  }

  setKeys(keys: KeyMaterial): void {
    this.keys = keys;
    this.segments.setSummaryKeys({ activeId: keys.hmac.id, keys: keys.hmacKeys });
  }

  /** Listens to every committed batch (for tail subscriptions). */
  onEntries(listener: EntriesListener): { dispose(): void } {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }

  /**
   * Validates and stores events. One result per event, in order: an ack once durable, or the typed
   * error of that event (the others still go in). Resolves only after the fsync of the batch. `sender` (the
   * connection) is who group commit may wait for; without it, each request counts as a sender of its own.
   */
  async ingest(events: readonly unknown[], sender?: object): Promise<Array<IngestAck | IngestRejected>> {
    this.assertAccepting(events.length);
    const nowMs = this.now();
    // One promise per request, not per event: each event settles its slot, the last one resolves.
    const results = new Array<IngestAck | IngestRejected>(events.length);
    const queuedBefore = this.pending.length;
    return new Promise((resolve) => {
      let open = 1;
      const done = (): void => {
        if (--open === 0) resolve(results);
      };
      events.forEach((raw, i) => {
        const event = parseEvent(raw, nowMs);
        if (isWireError(event)) {
          results[i] = { error: event };
          return;
        }
        open++;
        this.enqueue(event, (result) => {
          results[i] = result instanceof AuditError ? { error: result.toWire() } : result;
          done();
        });
      });
      if (this.pending.length > queuedBefore) this.requestQueued(sender);
      done();
    });
  }

  /** Appends an `audit.*` entry that records an operation on the store itself. */
  async appendAudit(kind: AuditKind, audit: Record<string, JsonValue>, actor?: Actor, decision: 'allowed' | 'error' = 'allowed'): Promise<IngestAck> {
    this.assertAccepting(1);
    const event: StorableEvent = { kind, audit, decision, content_mode: 'none' };
    if (actor !== undefined) event.actor = actor;
    return new Promise((resolve, reject) => {
      this.enqueue(event, (result) => (result instanceof AuditError ? reject(result) : resolve(result)));
      this.requestQueued();
    });
  }

  private assertAccepting(count: number): void {
    if (this.closed) throw new AuditError(ErrorCodes.ShuttingDown, 'the daemon is shutting down');
    if (this.readOnlyReason !== null) {
      throw new AuditError(ErrorCodes.ReadOnly, `the daemon is read-only: ${this.readOnlyReason.message}`, { reason: this.readOnlyReason.code });
    }
    if (this.diskFullSince !== null && this.now() - this.diskFullSince < DISK_FULL_RETRY_MS) {
      throw new AuditError(ErrorCodes.DiskFull, 'the disk is full: events are not accepted until space is freed; reads still work', {
        retry_after_ms: DISK_FULL_RETRY_MS,
      });
    }
    if (this.pending.length + count > this.maxPending) {
      throw new AuditError(ErrorCodes.Busy, 'the daemon is writing as fast as the disk allows; retry shortly', {
        retry_after_ms: 50,
        queue_depth: this.pending.length,
      });
    }
  }

  private enqueue(event: StorableEvent, settle: Settle): void {
    const key = event.idempotency_key;
    const digest = key === undefined ? undefined : idempotencyDigest(key);
    if (key !== undefined) {
      const done = this.acked.get(key, digest);
      if (done !== undefined) return settle({ ...done, duplicate: true });
      const running = this.inflight.get(key);
      if (running !== undefined) {
        (running.followers ??= []).push(settle);
        return;
      }
    }
    const item: Pending = { event, settle, digest };
    this.pending.push(item);
    // The map entry goes once the outcome is known (see `settle`); a rejected write must not block a retry.
    if (key !== undefined) this.inflight.set(key, item);
    this.scheduleFlush();
  }

  /** Tells an event (and resends of its key that waited for it) how it went. */
  private settle(item: Pending, result: IngestAck | AuditError): void {
    const key = item.event.idempotency_key;
    if (key !== undefined) {
      this.inflight.delete(key);
      if (this.inflight.size === 0) this.inflight = new Map();
      if (!(result instanceof AuditError)) this.remember(key, result, item.digest);
    }
    item.settle(result);
    if (item.followers !== undefined) {
      const shared = result instanceof AuditError ? result : { seq: result.seq, id: result.id, duplicate: true as const };
      for (const follower of item.followers) follower(shared instanceof AuditError ? shared : { ...shared });
    }
  }

  private remember(key: string, ack: IngestAck, digest?: string): void {
    this.acked.set(key, ack, digest);
  }

  /** A request queued events; `sender` (its connection) counts once however many of its requests wait. */
  private requestQueued(sender: object = {}): void {
    this.pendingSenders.add(sender);
    if (this.gathered !== null && this.pendingSenders.size >= this.lastBatchSenders) this.gathered();
  }

  /** How batches were formed since the store opened. */
  get groupCommitCounts(): Readonly<GroupCommitCounts> {
    return this.counts;
  }

  private scheduleFlush(): void {
    if (this.flushing !== null) return;
    this.flushing = (async () => {
      // Start after the current tick, so that all events of one request (and of requests arriving
      // together) go into the first batch; events arriving during an fsync form the next batch.
      await new Promise<void>((resolve) => setImmediate(resolve));
      while (this.pending.length > 0) {
        const turn = ingestTrace === null ? 0 : performance.now();
        const waitsBefore = this.counts.waits;
        await this.gather();
        if (ingestTrace !== null) this.traced = [turn, performance.now(), this.counts.waits > waitsBefore ? performance.now() - turn : 0];
        // At most as many as may go unsigned in a row (docs/entry.md §7.3).
        const batch = this.pending.length <= MAX_UNSIGNED_ENTRIES ? this.pending : this.pending.slice(0, MAX_UNSIGNED_ENTRIES);
        this.pending = batch === this.pending ? [] : this.pending.slice(MAX_UNSIGNED_ENTRIES);
        const senders = this.pendingSenders;
        this.pendingSenders = new Set();
        if (this.pending.length > 0) this.pendingSenders.add(senders);
        this.counts.batches++;
        await this.withExclusive(() => this.commit(batch));
        // The senders just acknowledged may come back, and those that sent meanwhile wait: together they
        // are the batch worth waiting for.
        let expected = senders.size;
        for (const sender of this.pendingSenders) if (!senders.has(sender)) expected++;
        this.lastBatchSenders = expected;
        this.lastBatchAt = this.now();
      }
      this.flushing = null;
    })();
  }

  /**
   * Waits (at most about one recent sync, see GROUP_LINGER_MIN_MS) until as many senders have requests
   * queued as the last batch held. The count adapts: a batch written after the wait ran out sets a smaller
   * target. No wait after an idle period (GROUP_IDLE_MS): a request then is written at once.
   */
  private async gather(): Promise<void> {
    if (this.pendingSenders.size >= this.lastBatchSenders || this.closed) return;
    if (this.now() - this.lastBatchAt > GROUP_IDLE_MS) return;
    this.counts.waits++;
    const linger = Math.min(GROUP_LINGER_MAX_MS, Math.max(GROUP_LINGER_MIN_MS, Math.round(this.syncMs)));
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.counts.waitsTimedOut++;
        this.gathered?.();
      }, linger);
      this.gathered = () => {
        clearTimeout(timer);
        this.gathered = null;
        resolve();
      };
    });
  }

  private withExclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.exclusive.then(work, work);
    this.exclusive = run.catch(() => undefined);
    return run;
  }

  private async commit(batch: Pending[]): Promise<void> {
    const commitStarted = ingestTrace === null ? 0 : performance.now();
    const entries: Entry[] = [];
    // A new buffer per batch (one allocation per batch): nothing the write may still hold is ever reused.
    const lines = new LineBatch(batch.length * 1024);
    // recorded_at never goes backwards, even if the system clock does: segments stay in time order.
    const recordedMs = Math.max(this.now(), this.lastRecordedMs);
    const recordedAt = new Date(recordedMs).toISOString();
    // The chain's end is signed before a batch would leave a longer unsigned run than verify accepts;
    // if that signature cannot be written, the batch is not written either.
    const unsigned = this.lastSeq - this.lastCheckpointSeq;
    if (
      unsigned > 0 &&
      ((this.unsignedSinceMs !== null && recordedMs - this.unsignedSinceMs > MAX_UNSIGNED_MS) || unsigned + batch.length > this.checkpointEvery)
    ) {
      try {
        await this.signNow('checkpoint', this.lastSeq, this.lastHash);
      } catch (error: unknown) {
        const wire = this.writeError(error);
        for (const item of batch) this.settle(item, wire);
        return;
      }
    }
    const mode = this.options.contentMode();
    // One key set for the whole batch, also across the await for the encryption worker.
    const keys = this.keys;
    const ids = batch.map(() => uuidv7(recordedMs));
    const sealed = await this.sealContent(batch, ids, mode, keys);
    let next = 0;
    let seq = this.lastSeq;
    let prev = this.lastHash;
    const built: Pending[] = [];
    for (let i = 0; i < batch.length; i++) {
      const item = batch[i] as Pending;
      let sealedInput: string | undefined;
      let sealedOutput: string | undefined;
      if (sealed !== null && contentModeOf(item.event, mode) === 'encrypted') {
        if (item.event.input !== undefined) sealedInput = sealed[next++];
        if (item.event.output !== undefined) sealedOutput = sealed[next++];
      }
      try {
        seq += 1;
        const stamp = { seq, id: ids[i] as string, recordedAt, prev, defaultMode: mode, keys, sealedInput, sealedOutput };
        const entry = buildEntry(item.event, stamp, lines);
        entries.push(entry);
        built.push(item);
        prev = entry.hash;
      } catch (error: unknown) {
        seq -= 1;
        this.options.log(`could not build an entry: ${String(error)}`);
        this.settle(item, new AuditError(ErrorCodes.Internal, 'the event could not be stored'));
      }
    }
    if (entries.length === 0) return;
    try {
      const started = performance.now();
      const syncHere = entries.length <= SYNC_HERE_MAX_EVENTS && this.syncMs <= SYNC_HERE_MAX_MS;
      await this.segments.append(entries, lines.bytes(), lines.lineBytes, syncHere);
      const synced = performance.now();
      this.syncMs += (synced - started - this.syncMs) / 8;
      if (ingestTrace !== null) {
        const [turn = 0, gathered = 0, waited = 0] = this.traced;
        ingestTrace.batch([turn, gathered, commitStarted, started, synced, entries.length, waited]);
      }
    } catch (error: unknown) {
      const wire = this.writeError(error);
      for (const item of built) this.settle(item, wire);
      return;
    }
    if (this.diskFullSince !== null) this.options.log('disk has space again: ingest resumed');
    this.diskFullSince = null;
    this.lastRecordedMs = recordedMs;
    this.unsignedSinceMs ??= recordedMs;
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i] as Entry;
      this.settle(built[i] as Pending, { seq: entry.seq, id: entry.id });
    }
    for (const listener of this.listeners) {
      try {
        listener(entries);
      } catch (error: unknown) {
        this.options.log(`tail listener failed: ${String(error)}`);
      }
    }
    if (this.lastSeq - this.lastCheckpointSeq >= this.checkpointEvery) {
      // The entries are durable and acknowledged: a failed checkpoint (a full disk) is logged and retried
      // by the next batch or the minute timer, never thrown.
      await this.signNow('checkpoint', this.lastSeq, this.lastHash).catch((error: unknown) =>
        this.options.log(`checkpoint at seq ${this.lastSeq} failed (retried later): ${String(error)}`),
      );
    }
  }

  /**
   * Encrypts the batch's encrypted-mode fields (AAD `<entry id>:input|output`) in order: the first half on the
   * encryption worker while this thread does the second half, so that the commit waits for half the work on
   * each core. `null` when the batch stays on this thread (ContentEncryptor decides), and `buildEntry` encrypts; a field
   * left undefined (the worker out of use) is encrypted by `buildEntry` too.
   */
  private async sealContent(batch: Pending[], ids: string[], mode: ContentMode, keys: KeyMaterial): Promise<Array<string | undefined> | null> {
    let fields: string[] | null = null;
    for (let i = 0; i < batch.length; i++) {
      const { event } = batch[i] as Pending;
      if ((event.input === undefined && event.output === undefined) || contentModeOf(event, mode) !== 'encrypted') continue;
      fields ??= [];
      if (event.input !== undefined) fields.push(event.input, `${ids[i] as string}:input`);
      if (event.output !== undefined) fields.push(event.output, `${ids[i] as string}:output`);
    }
    if (fields === null) return null;
    const key = keys.encryption.key;
    const offloaded = this.encryptor.sealFirstHalf(key, fields);
    if (offloaded === null) return null;
    const count = fields.length / 2;
    const toWorker = offloaded.count;
    const sealed = new Array<string | undefined>(count);
    try {
      for (let f = toWorker; f < count; f++) sealed[f] = encryptField(key, fields[2 * f] as string, fields[2 * f + 1] as string);
    } catch {
      // Left undefined: buildEntry encrypts again and reports the failure for its event alone, as before.
    }
    const theirs = await offloaded.sealed;
    if (theirs !== null) for (let f = 0; f < toWorker; f++) sealed[f] = theirs[f];
    return sealed;
  }

  private get checkpointEvery(): number {
    return Math.min(this.options.checkpointEveryEntries ?? MAX_UNSIGNED_ENTRIES, MAX_UNSIGNED_ENTRIES);
  }

  /** The typed error for a failed write; a full disk pauses ingest. */
  private writeError(error: unknown): AuditError {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC' || code === 'EDQUOT') {
      if (this.diskFullSince === null) this.options.log('disk full: ingest paused, reads continue');
      this.diskFullSince = this.now();
      return new AuditError(ErrorCodes.DiskFull, 'the disk is full: the events were not stored; reads still work', { retry_after_ms: DISK_FULL_RETRY_MS });
    }
    this.options.log(`write failed: ${String(error)}`);
    return new AuditError(ErrorCodes.StorageError, `the events were not stored: ${code ?? 'write failed'}`);
  }

  /** Signs the current end of the chain, unless a checkpoint already covers it (never on a read-only store). */
  async writeCheckpoint(): Promise<void> {
    await this.withExclusive(async () => {
      if (this.readOnlyReason === null && this.lastSeq > this.lastCheckpointSeq && this.segments.lastHash !== null) {
        await this.signNow('checkpoint', this.lastSeq, this.segments.lastHash);
      }
    });
  }

  private async signNow(type: 'checkpoint' | 'anchor', seq: number, hash: string): Promise<void> {
    const checkpoint = signCheckpoint(
      {
        type,
        seq,
        hash,
        ts: new Date(this.now()).toISOString(),
        key_id: this.keys.signing.id,
        n: this.recordCount + 1,
        prev: checkpointLink(this.lastRecord),
      },
      this.keys.signing.privateKey,
    );
    await appendCheckpoint(this.options.home, checkpoint);
    this.lastRecord = checkpoint;
    this.recordCount++;
    if (type === 'checkpoint') {
      this.lastCheckpointSeq = Math.max(this.lastCheckpointSeq, seq);
      if (seq === this.lastSeq) this.unsignedSinceMs = null;
    }
  }

  /** The first signed checkpoint at or after `seq` (it vouches for the entry), or null: not yet signed. */
  async checkpointCovering(seq: number): Promise<CheckpointRef | null> {
    const { checkpoints } = await readCheckpoints(this.options.home);
    let best: CheckpointRef | null = null;
    for (const c of checkpoints) {
      if (c.type !== 'checkpoint' || c.seq < seq || (best !== null && best.seq <= c.seq)) continue;
      best = { seq: c.seq, hash: c.hash, ts: c.ts, key_id: c.key_id };
    }
    return best;
  }

  /**
   * The committed bytes of the segments that hold `fromSeq ≤ seq ≤ toSeq`, oldest first, in chunks of whole
   * lines (newlines included): for a reader that copies stored lines as they are (an export) without a
   * string, a parse or a promise per line. A chunk may begin before `fromSeq` (from the sparse offset at
   * or before it) and run past `toSeq`: the caller reads each line's seq and stops. Each chunk is valid
   * only until the next is asked for (the buffer is read into again): copy what must outlive it.
   */
  async *lineChunksBySeq(fromSeq: number, toSeq: number): AsyncGenerator<Buffer> {
    const reader = new LineBlockReader();
    for (const segment of this.segments.list()) {
      if (segment.count === 0 || segment.last_seq < fromSeq) continue;
      if (segment.first_seq > toSeq) break;
      const step = Math.max(0, Math.floor((fromSeq - segment.first_seq) / SPARSE_STEP));
      const start = segment.first_seq >= fromSeq ? 0 : (segment.offsets[step] ?? 0);
      await this.beforeRead(segment);
      try {
        yield* reader.blocks(join(this.options.home, segment.file), start, segment.bytes);
      } catch (error: unknown) {
        // Its entries are gone: the caller sees the seqs jump (an export refuses a gap with a typed error).
        if (!this.removedByRetention(error, segment)) throw error;
      }
    }
  }

  /** Signs a checkpoint at an entry that is not the newest (an export signs the end of its range). */
  async signCheckpointAt(seq: number, hash: string): Promise<void> {
    await this.withExclusive(() => this.signNow('checkpoint', seq, hash));
  }

  /**
   * Newest first, with a cursor for the next page; the cost grows with the page, not the store. A page asked
   * for by cursor starts reading the one after it (see {@link QueryReadAhead}).
   */
  async query(filter: EntryFilter | undefined, limit: number, cursor?: string): Promise<QueryPage> {
    const list = this.segments.list();
    const page = (cursor === undefined ? null : await this.readAhead.take(filter, limit, cursor, list, performance.now())) ?? (await this.readPage(filter, limit, cursor, list));
    const next = page.next_cursor;
    if (cursor !== undefined && next !== null && !this.closed) {
      this.readAhead.start(filter, limit, next, list, performance.now(), () => this.readPage(filter, limit, next, list));
    }
    return page;
  }

  /** One page of `query`, read from the segments in `list`. */
  private async readPage(filter: EntryFilter | undefined, limit: number, cursor: string | undefined, list: readonly SegmentSummary[]): Promise<QueryPage> {
    const compiled = compileFilter(filter);
    let index = list.length - 1;
    let end = list[index]?.bytes ?? 0;
    if (cursor !== undefined) {
      const position = decodeCursor(cursor);
      index = list.findIndex((s) => s.segment === position.segment);
      const segment = list[index];
      if (segment === undefined || position.offset > segment.bytes) {
        throw new AuditError(ErrorCodes.BadCursor, 'the cursor points to entries that no longer exist (retention removed them)');
      }
      end = position.offset;
    }
    const entries: Entry[] = [];
    const lines: string[] = [];
    for (; index >= 0; index--) {
      const segment = list[index];
      if (segment === undefined) break;
      if (end > 0 && compiled.mayMatch(segment)) {
        await this.beforeRead(segment);
        const path = join(this.options.home, segment.file);
        /** Takes a line if it matches; the cursor once the page is full. */
        const take = (line: SegmentLine): string | null => {
          const entry = parseLine(line.text);
          if (entry === null || !compiled.matches(entry)) return null;
          entries.push(entry);
          lines.push(line.text);
          return entries.length === limit ? encodeCursor({ segment: segment.segment, offset: line.offset, seq: entry.seq }) : null;
        };
        try {
          if (compiled.notableOnly && Array.isArray(segment.notable)) {
            // Only notable entries can match and the segment lists them: read just their lines.
            for await (const batch of readListedLinesBackward(path, segment.notable, end, () => limit - entries.length)) {
              for (const line of batch) {
                const next = take(line);
                if (next !== null) return { entries, lines, next_cursor: next };
              }
            }
          } else {
            for await (const line of readLinesBackward(path, end)) {
              const next = take(line);
              if (next !== null) return { entries, lines, next_cursor: next };
            }
          }
        } catch (error: unknown) {
          // Retention removed it after the list was taken: it and every older segment hold expired entries.
          if (!this.removedByRetention(error, segment)) throw error;
        }
      }
      end = list[index - 1]?.bytes ?? 0;
    }
    return { entries, lines, next_cursor: null };
  }

  /** One entry by seq or id. */
  async get(target: { seq: number } | { id: string }): Promise<Entry> {
    const list = this.segments.list();
    if ('seq' in target) {
      const segment = list.find((s) => s.count > 0 && s.first_seq <= target.seq && target.seq <= s.last_seq);
      if (segment !== undefined) {
        const step = Math.floor((target.seq - segment.first_seq) / SPARSE_STEP);
        const start = segment.offsets[step] ?? 0;
        await this.beforeRead(segment);
        try {
          for await (const line of readLinesForward(join(this.options.home, segment.file), start, segment.bytes)) {
            const entry = parseLine(line.text);
            if (entry?.seq === target.seq) return entry;
            if (entry !== null && entry.seq > target.seq) break;
          }
        } catch (error: unknown) {
          // Removed by retention meanwhile: not found, as after it.
          if (!this.removedByRetention(error, segment)) throw error;
        }
      }
      throw new AuditError(ErrorCodes.NotFound, `no entry with seq ${target.seq}`);
    }
    const time = uuidv7Time(target.id);
    // Ids are UUIDv7 stamped with the commit time: look in the segments of that time first.
    const ordered =
      time === null
        ? [...list].reverse()
        : [...list].sort((a, b) => distance(a, time) - distance(b, time));
    for (const segment of ordered) {
      if (segment.count === 0) continue;
      await this.beforeRead(segment);
      try {
        for await (const line of readLinesForward(join(this.options.home, segment.file), 0, segment.bytes)) {
          if (!line.text.includes(target.id)) continue;
          const entry = parseLine(line.text);
          if (entry?.id === target.id) return entry;
        }
      } catch (error: unknown) {
        if (!this.removedByRetention(error, segment)) throw error;
      }
    }
    throw new AuditError(ErrorCodes.NotFound, `no entry with id ${target.id}`);
  }

  /** Aggregates for charts. Whole segments inside the time range come from their summaries. */
  async stats(filter: EntryFilter | undefined, top: number, by?: StatsGroupBy): Promise<Stats> {
    const effective: EntryFilter = { ...filter };
    if (effective.since === undefined) effective.since = new Date(this.now() - 30 * 86_400_000).toISOString();
    const compiled = compileFilter(effective);
    const total = emptySummary(0, '');
    total.notable = null;
    // Groups (customer, user, …) are not in the summaries: with `by`, every matching entry is read.
    const groups = by === undefined ? null : new GroupAccumulator(by);
    for (const segment of this.segments.list()) {
      if (!compiled.mayMatch(segment)) continue;
      const inside = Date.parse(segment.min_ts) >= compiled.sinceMs && Date.parse(segment.max_ts) < compiled.untilMs;
      if (compiled.timeOnly && inside && groups === null) {
        mergeSummary(total, segment);
        continue;
      }
      await this.beforeRead(segment);
      try {
        for await (const line of readLinesForward(join(this.options.home, segment.file), 0, segment.bytes)) {
          const entry = parseLine(line.text);
          if (entry === null || !compiled.matches(entry)) continue;
          addToSummary(total, entry, 0, 0);
          groups?.add(entry);
        }
      } catch (error: unknown) {
        // Retention removed it meanwhile: the figures are those of the entries still stored. (A segment it
        // removed after it was read still counts: the answer is the store as it was when the read began.)
        if (!this.removedByRetention(error, segment)) throw error;
      }
    }
    const per_day = Object.entries(total.days)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([day, c]) => ({ day, allowed: c.allowed ?? 0, blocked: c.blocked ?? 0, warned: c.warned ?? 0, error: c.error ?? 0 }));
    const top_categories = Object.entries(total.categories)
      .sort(([a, x], [b, y]) => y - x || a.localeCompare(b))
      .slice(0, top)
      .map(([category, count]) => ({ category, count }));
    const risk_by_model = Object.entries(total.risk)
      .map(([key, [sum, count]]) => {
        const [model = '', operation = ''] = key.split('\u001f');
        return { model, operation, mean_risk: sum / count, count };
      })
      .sort((a, b) => b.mean_risk - a.mean_risk || a.model.localeCompare(b.model));
    const counted = per_day.reduce((n, d) => n + d.allowed + d.blocked + d.warned + d.error, 0);
    const result: Stats = { total: counted, per_day, top_categories, risk_by_model };
    if (groups !== null) result.groups = groups.result();
    return result;
  }

  /** Verifies the chain and the checkpoints over the committed bytes. */
  async verify(range: { fromSeq?: number; toSeq?: number; expect?: { seq: number; hash: string } }, onProgress?: (checked: number, lastSeq: number) => void): Promise<VerifyReport> {
    const running = new AbortController();
    this.verifying.add(running);
    try {
      for (;;) {
        const dropped = this.segments.lastDropped;
        const hook = this.options.beforeSegmentRead;
        const walk = verifyStore(this.options.home, {
          publicKeys: this.keys.signingPublicKeys,
          summaryKeys: this.keys.hmacKeys,
          committedBytes: this.segments.committedBytes(),
          signal: running.signal,
          ...range,
          ...(onProgress === undefined ? {} : { onProgress }),
          ...(hook === undefined ? {} : { beforeSegmentRead: hook }),
        });
        // A walk that retention overlapped may miss a segment (a missing file) or the anchor it signed (read
        // before it was written): it is redone on the store as it is now. Retention runs daily at most.
        const report = await walk.catch((error: unknown) => {
          if ((error as NodeJS.ErrnoException | null)?.code === 'ENOENT' && this.segments.lastDropped !== dropped) return null;
          throw error;
        });
        if (report !== null && (report.ok || this.segments.lastDropped === dropped)) return report;
      }
    } finally {
      this.verifying.delete(running);
    }
  }

  /**
   * Drops whole segments whose every entry (by `ts` and `recorded_at`) is older than `days`, oldest first,
   * never the open one. A signed anchor is written first, so verify accepts the new start of the chain.
   */
  async runRetention(days: number, options: { actor?: Actor; recordWhenNothingDropped?: boolean; keepFromSeq?: () => number } = {}): Promise<{ dropped_segments: number; dropped_entries: number; anchor_seq: number | null }> {
    const cutoff = this.now() - days * 86_400_000;
    if (this.readOnlyReason !== null) {
      throw new AuditError(ErrorCodes.ReadOnly, `the daemon is read-only: ${this.readOnlyReason.message}`, { reason: this.readOnlyReason.code });
    }
    const result = await this.withExclusive(async () => {
      const list = this.segments.list();
      // Entries a schedule has not exported yet stay, however old (unless the caller forces it).
      const keepFrom = options.keepFromSeq?.() ?? Number.POSITIVE_INFINITY;
      let count = 0;
      for (let i = 0; i < list.length - 1; i++) {
        const s = list[i];
        if (s === undefined || Date.parse(s.max_ts) >= cutoff || Date.parse(s.last_recorded) >= cutoff || s.last_seq >= keepFrom) break;
        count++;
      }
      const lastDropped = list[count - 1];
      if (count === 0 || lastDropped === undefined) return { dropped_segments: 0, dropped_entries: 0, anchor_seq: null };
      await this.signNow('anchor', lastDropped.last_seq, lastDropped.last_hash);
      const dropped = await this.segments.dropOldest(count);
      // Pages read ahead may hold dropped entries (they are also refused by their segment list).
      this.readAhead.clear();
      return {
        dropped_segments: dropped.length,
        dropped_entries: dropped.reduce((n, s) => n + s.count, 0),
        anchor_seq: lastDropped.last_seq,
      };
    });
    // A run asked for by a person is always on the record; the daily job only when it removed something.
    if (result.dropped_segments > 0 || options.recordWhenNothingDropped === true) {
      await this.appendAudit('audit.retention', { older_than_days: days, cutoff: new Date(cutoff).toISOString(), ...result }, options.actor);
    }
    return result;
  }

  private async beforeRead(segment: SegmentSummary): Promise<void> {
    const hook = this.options.beforeSegmentRead;
    if (hook !== undefined) await hook(segment.segment);
  }

  /** Whether `error` is the missing file of a segment that retention removed after the reader listed it. */
  private removedByRetention(error: unknown, segment: SegmentSummary): boolean {
    return (error as NodeJS.ErrnoException | null)?.code === 'ENOENT' && this.segments.wasDropped(segment.segment);
  }

  /** Waits for queued events, writes a final checkpoint and closes the files. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const running of this.verifying) running.abort(new AuditError(ErrorCodes.ShuttingDown, 'the daemon is shutting down'));
    this.readAhead.clear();
    if (this.checkpointTimer !== null) clearInterval(this.checkpointTimer);
    this.gathered?.();
    while (this.flushing !== null) await this.flushing;
    await this.writeCheckpoint().catch((error: unknown) => this.options.log(`final checkpoint failed: ${String(error)}`));
    await this.exclusive;
    await this.encryptor.dispose();
    await this.segments.close();
  }

  /** Reloads the newest idempotency keys so that a resend after a restart is still recognized. */
  private async loadIdempotencyKeys(): Promise<void> {
    const found: Array<[string, IngestAck]> = [];
    const list = this.segments.list();
    // Bounded by bytes too, so start-up does not read a whole large store of events without keys.
    let budget = 64 * 1024 * 1024;
    outer: for (let i = list.length - 1; i >= 0; i--) {
      const segment = list[i];
      if (segment === undefined || segment.count === 0 || segment.keyed === 0) continue;
      for await (const line of readLinesBackward(join(this.options.home, segment.file), segment.bytes)) {
        budget -= line.bytes;
        if (budget < 0) break outer;
        if (!line.text.includes('"idempotency_key"')) continue;
        const entry = parseLine(line.text);
        if (entry?.idempotency_key !== undefined) found.push([entry.idempotency_key, { seq: entry.seq, id: entry.id }]);
        if (found.length >= this.idempotencyWindow) break outer;
      }
    }
    for (let i = found.length - 1; i >= 0; i--) {
      const item = found[i];
      if (item !== undefined) this.acked.set(item[0], item[1]);
    }
  }
}

/** A stored line's entry, or null for a line that is not JSON or lacks what summaries and filters read (a hand edit: verify reports it). */
function parseLine(text: string): Entry | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  return hasSummaryFields(value) ? (value as Entry) : null;
}

function distance(segment: SegmentSummary, time: number): number {
  if (segment.count === 0) return Number.POSITIVE_INFINITY;
  const first = Date.parse(segment.first_recorded);
  const last = Date.parse(segment.last_recorded);
  if (time < first) return first - time;
  if (time > last) return time - last;
  return 0;
}

function mergeSummary(into: SegmentSummary, from: SegmentSummary): void {
  into.count += from.count;
  for (const [day, counts] of Object.entries(from.days)) {
    const target = (into.days[day] ??= {});
    for (const [decision, n] of Object.entries(counts) as Array<[keyof typeof counts, number]>) {
      target[decision] = (target[decision] ?? 0) + n;
    }
  }
  for (const [category, n] of Object.entries(from.categories)) into.categories[category] = (into.categories[category] ?? 0) + n;
  for (const [key, [sum, n]] of Object.entries(from.risk)) {
    const cell = (into.risk[key] ??= [0, 0]);
    cell[0] += sum;
    cell[1] += n;
  }
}
