import { join } from 'node:path';
import { GENESIS_HASH, type AuditKind, type ContentMode, type Entry, type JsonValue, type Actor } from '../protocol/entry.ts';
import { AuditError, ErrorCodes } from '../protocol/errors.ts';
import type { CheckpointRef, EntryFilter, IngestAck, IngestRejected, Stats, StatsGroupBy, VerifyReport } from '../protocol/messages.ts';
import type { KeyMaterial } from '../keys/keyMaterial.ts';
import { appendCheckpoint, checkCheckpointChain, checkpointLink, readCheckpoints, repairCheckpointsTail, signCheckpoint, type Checkpoint } from './checkpoints.ts';
import { MAX_UNSIGNED_ENTRIES, MAX_UNSIGNED_MS, verifyStore } from './chainVerifier.ts';
import { decodeCursor, encodeCursor } from './cursor.ts';
import { buildEntry, isWireError, parseEvent, type StorableEvent } from './entryBuilder.ts';
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
 * Shortest and longest wait (ms) for as many requests as the previous batch held before a smaller batch
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
  /** Requests (ingest calls) with events in `pending`, and in the last batch written (see GROUP_LINGER_MIN_MS). */
  private pendingRequests = 0;
  private lastBatchRequests = 0;
  /** Recent write + fdatasync duration of a batch (ms, moving average): the linger's bound. */
  private syncMs = GROUP_LINGER_MIN_MS;
  /** Ends the linger before a batch, once enough requests are queued. */
  private gathered: (() => void) | null = null;
  private flushing: Promise<void> | null = null;
  /** Serializes writers of the files (flush, retention, checkpoints). */
  private exclusive: Promise<unknown> = Promise.resolve();
  /** The most recently acknowledged keys (compact: a digest per key, outside the JS heap). */
  private readonly acked: IdempotencyWindow;
  /** Queued or being written, by idempotency key: a resend waits for the original's outcome. */
  private readonly inflight = new Map<string, Pending>();
  private readonly listeners = new Set<EntriesListener>();
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

  private constructor(segments: SegmentStore, options: AuditStoreOptions) {
    this.segments = segments;
    this.options = options;
    this.keys = options.keys;
    this.now = options.now ?? Date.now;
    this.maxPending = options.maxPendingEvents ?? 200_000;
    this.idempotencyWindow = options.idempotencyWindow ?? 100_000;
    this.acked = new IdempotencyWindow(this.idempotencyWindow);
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
   * error of that event (the others still go in). Resolves only after the fsync of the batch.
   */
  async ingest(events: readonly unknown[]): Promise<Array<IngestAck | IngestRejected>> {
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
      if (this.pending.length > queuedBefore) this.requestQueued();
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

  private requestQueued(): void {
    this.pendingRequests++;
    if (this.gathered !== null && this.pendingRequests >= this.lastBatchRequests) this.gathered();
  }

  private scheduleFlush(): void {
    if (this.flushing !== null) return;
    this.flushing = (async () => {
      // Start after the current tick, so that all events of one request (and of requests arriving
      // together) go into the first batch; events arriving during an fsync form the next batch.
      await new Promise<void>((resolve) => setImmediate(resolve));
      while (this.pending.length > 0) {
        await this.gather();
        // At most as many as may go unsigned in a row (docs/entry.md §7.3).
        const batch = this.pending.length <= MAX_UNSIGNED_ENTRIES ? this.pending : this.pending.slice(0, MAX_UNSIGNED_ENTRIES);
        this.pending = batch === this.pending ? [] : this.pending.slice(MAX_UNSIGNED_ENTRIES);
        const requests = this.pendingRequests;
        this.pendingRequests = this.pending.length > 0 ? 1 : 0;
        await this.withExclusive(() => this.commit(batch));
        // The requests just acknowledged may come back, and those that arrived meanwhile wait: together
        // they are the batch worth waiting for.
        this.lastBatchRequests = requests + this.pendingRequests;
      }
      this.flushing = null;
    })();
  }

  /**
   * Waits (at most about one recent sync, see GROUP_LINGER_MIN_MS) until as many requests are queued as
   * the last batch held. The count adapts: a batch written after the wait ran out sets a smaller target.
   */
  private async gather(): Promise<void> {
    if (this.pendingRequests >= this.lastBatchRequests || this.closed) return;
    const linger = Math.min(GROUP_LINGER_MAX_MS, Math.max(GROUP_LINGER_MIN_MS, Math.round(this.syncMs)));
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => this.gathered?.(), linger);
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
    let seq = this.lastSeq;
    let prev = this.lastHash;
    const mode = this.options.contentMode();
    const built: Pending[] = [];
    for (const item of batch) {
      try {
        seq += 1;
        const entry = buildEntry(item.event, { seq, id: uuidv7(recordedMs), recordedAt, prev, defaultMode: mode, keys: this.keys }, lines);
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
      await this.segments.append(entries, lines.bytes(), lines.lineBytes);
      this.syncMs += (performance.now() - started - this.syncMs) / 8;
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
   * Committed entries with `fromSeq ≤ seq ≤ toSeq`, oldest first, with their stored line (without the
   * newline), read segment by segment: an export streams through this, never holding the range in memory.
   */
  async *entriesBySeq(fromSeq: number, toSeq: number): AsyncGenerator<{ entry: Entry; text: string }> {
    for (const segment of this.segments.list()) {
      if (segment.count === 0 || segment.last_seq < fromSeq) continue;
      if (segment.first_seq > toSeq) break;
      const step = Math.max(0, Math.floor((fromSeq - segment.first_seq) / SPARSE_STEP));
      const start = segment.first_seq >= fromSeq ? 0 : (segment.offsets[step] ?? 0);
      for await (const line of readLinesForward(join(this.options.home, segment.file), start, segment.bytes)) {
        const entry = parseLine(line.text);
        if (entry === null || entry.seq < fromSeq) continue;
        if (entry.seq > toSeq) return;
        yield { entry, text: line.text };
      }
    }
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
      yield* reader.blocks(join(this.options.home, segment.file), start, segment.bytes);
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
        const path = join(this.options.home, segment.file);
        /** Takes a line if it matches; the cursor once the page is full. */
        const take = (line: SegmentLine): string | null => {
          const entry = parseLine(line.text);
          if (entry === null || !compiled.matches(entry)) return null;
          entries.push(entry);
          lines.push(line.text);
          return entries.length === limit ? encodeCursor({ segment: segment.segment, offset: line.offset, seq: entry.seq }) : null;
        };
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
        for await (const line of readLinesForward(join(this.options.home, segment.file), start, segment.bytes)) {
          const entry = parseLine(line.text);
          if (entry?.seq === target.seq) return entry;
          if (entry !== null && entry.seq > target.seq) break;
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
      for await (const line of readLinesForward(join(this.options.home, segment.file), 0, segment.bytes)) {
        if (!line.text.includes(target.id)) continue;
        const entry = parseLine(line.text);
        if (entry?.id === target.id) return entry;
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
      for await (const line of readLinesForward(join(this.options.home, segment.file), 0, segment.bytes)) {
        const entry = parseLine(line.text);
        if (entry === null || !compiled.matches(entry)) continue;
        addToSummary(total, entry, 0, 0);
        groups?.add(entry);
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
    return verifyStore(this.options.home, {
      publicKeys: this.keys.signingPublicKeys,
      summaryKeys: this.keys.hmacKeys,
      committedBytes: this.segments.committedBytes(),
      ...range,
      ...(onProgress === undefined ? {} : { onProgress }),
    });
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

  /** Waits for queued events, writes a final checkpoint and closes the files. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.readAhead.clear();
    if (this.checkpointTimer !== null) clearInterval(this.checkpointTimer);
    this.gathered?.();
    while (this.flushing !== null) await this.flushing;
    await this.writeCheckpoint().catch((error: unknown) => this.options.log(`final checkpoint failed: ${String(error)}`));
    await this.exclusive;
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
