import { join } from 'node:path';
import { GENESIS_HASH, type AuditKind, type ContentMode, type Entry, type JsonValue, type Actor } from '../protocol/entry.ts';
import { AuditError, ErrorCodes, type WireError } from '../protocol/errors.ts';
import type { CheckpointRef, EntryFilter, IngestAck, IngestRejected, Stats, StatsGroupBy, VerifyReport } from '../protocol/messages.ts';
import type { KeyMaterial } from '../keys/keyMaterial.ts';
import { appendCheckpoint, readCheckpoints, signCheckpoint } from './checkpoints.ts';
import { verifyStore } from './chainVerifier.ts';
import { decodeCursor, encodeCursor } from './cursor.ts';
import { buildEntry, isWireError, parseEvent, type StorableEvent } from './entryBuilder.ts';
import { compileFilter } from './entryFilter.ts';
import { readLinesBackward, readLinesForward } from './segmentReader.ts';
import { SegmentStore } from './segmentStore.ts';
import { addToSummary, emptySummary, SPARSE_STEP, type SegmentSummary } from './segmentSummary.ts';
import { GroupAccumulator } from './statsGroups.ts';
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
  /** A signed checkpoint is written after this many new entries … */
  checkpointEveryEntries?: number;
  /** … or this many milliseconds after the first entry not yet covered by one. */
  checkpointEveryMs?: number;
  /** Clock, for tests. */
  now?: () => number;
}

interface Pending {
  event: StorableEvent;
  resolve: (ack: IngestAck) => void;
  reject: (error: AuditError) => void;
}

type EntriesListener = (entries: readonly Entry[]) => void;

const DISK_FULL_RETRY_MS = 1000;

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
  private flushing: Promise<void> | null = null;
  /** Serializes writers of the files (flush, retention, checkpoints). */
  private exclusive: Promise<unknown> = Promise.resolve();
  private readonly acked = new Map<string, IngestAck>();
  private readonly inflight = new Map<string, Promise<IngestAck>>();
  private readonly listeners = new Set<EntriesListener>();
  private lastRecordedMs = 0;
  private diskFullSince: number | null = null;
  private lastCheckpointSeq = 0;
  private checkpointTimer: NodeJS.Timeout | null = null;
  private closed = false;

  private constructor(segments: SegmentStore, options: AuditStoreOptions) {
    this.segments = segments;
    this.options = options;
    this.keys = options.keys;
    this.now = options.now ?? Date.now;
    this.maxPending = options.maxPendingEvents ?? 200_000;
    this.idempotencyWindow = options.idempotencyWindow ?? 100_000;
  }

  static async open(options: AuditStoreOptions): Promise<AuditStore> {
    const segments = await SegmentStore.open({ home: options.home, segmentMaxBytes: options.segmentMaxBytes, log: options.log });
    const store = new AuditStore(segments, options);
    const { checkpoints } = await readCheckpoints(options.home);
    store.lastCheckpointSeq = checkpoints.reduce((max, c) => Math.max(max, c.seq), 0);
    const last = segments.list().at(-1);
    if (last !== undefined && last.last_recorded !== '') store.lastRecordedMs = Date.parse(last.last_recorded);
    await store.loadIdempotencyKeys();
    // Entries recovered after a crash are signed now, so a later truncation of them is detectable.
    await store.writeCheckpoint();
    const interval = options.checkpointEveryMs ?? 60_000;
    store.checkpointTimer = setInterval(() => {
      store.writeCheckpoint().catch((error: unknown) => options.log(`checkpoint failed: ${String(error)}`));
    }, interval);
    store.checkpointTimer.unref();
    return store;
  }

  get lastSeq(): number {
    return this.segments.lastSeq;
  }

  get lastHash(): string {
    return this.segments.lastHash ?? GENESIS_HASH;
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

  get diskFull(): boolean {
    return this.diskFullSince !== null;
  }

  get queueDepth(): number {
    return this.pending.length;
  }

  setKeys(keys: KeyMaterial): void {
    this.keys = keys;
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
    const results: Array<Promise<IngestAck> | WireError> = events.map((raw) => {
      const event = parseEvent(raw, nowMs);
      if (isWireError(event)) return event;
      return this.enqueue(event);
    });
    return Promise.all(
      results.map(async (r) => {
        if (!(r instanceof Promise)) return { error: r };
        try {
          return await r;
        } catch (error: unknown) {
          if (error instanceof AuditError) return { error: error.toWire() };
          throw error;
        }
      }),
    );
  }

  /** Appends an `audit.*` entry that records an operation on the store itself. */
  async appendAudit(kind: AuditKind, audit: Record<string, JsonValue>, actor?: Actor): Promise<IngestAck> {
    this.assertAccepting(1);
    const event: StorableEvent = { kind, audit, decision: 'allowed', content_mode: 'none' };
    if (actor !== undefined) event.actor = actor;
    return this.enqueue(event);
  }

  private assertAccepting(count: number): void {
    if (this.closed) throw new AuditError(ErrorCodes.ShuttingDown, 'the daemon is shutting down');
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

  private enqueue(event: StorableEvent): Promise<IngestAck> {
    const key = event.idempotency_key;
    if (key !== undefined) {
      const done = this.acked.get(key);
      if (done !== undefined) return Promise.resolve({ ...done, duplicate: true });
      const running = this.inflight.get(key);
      if (running !== undefined) return running.then((ack) => ({ ...ack, duplicate: true }));
    }
    const promise = new Promise<IngestAck>((resolve, reject) => {
      this.pending.push({ event, resolve, reject });
    });
    if (key !== undefined) {
      this.inflight.set(key, promise);
      // The map entry goes once the outcome is known; a rejected write must not block a retry.
      promise.then(
        (ack) => {
          this.inflight.delete(key);
          this.remember(key, ack);
        },
        () => this.inflight.delete(key),
      );
    }
    this.scheduleFlush();
    return promise;
  }

  private remember(key: string, ack: IngestAck): void {
    this.acked.set(key, { seq: ack.seq, id: ack.id });
    if (this.acked.size > this.idempotencyWindow) {
      const oldest = this.acked.keys().next().value;
      if (oldest !== undefined) this.acked.delete(oldest);
    }
  }

  private scheduleFlush(): void {
    if (this.flushing !== null) return;
    this.flushing = (async () => {
      // Start after the current tick, so that all events of one request (and of requests arriving
      // together) go into the first batch; events arriving during an fsync form the next batch.
      await new Promise<void>((resolve) => setImmediate(resolve));
      while (this.pending.length > 0) {
        const batch = this.pending;
        this.pending = [];
        await this.withExclusive(() => this.commit(batch));
      }
      this.flushing = null;
    })();
  }

  private withExclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.exclusive.then(work, work);
    this.exclusive = run.catch(() => undefined);
    return run;
  }

  private async commit(batch: Pending[]): Promise<void> {
    const entries: Entry[] = [];
    const chunks: string[] = [];
    const lineBytes: number[] = [];
    let seq = this.lastSeq;
    let prev = this.lastHash;
    // recorded_at never goes backwards, even if the system clock does: segments stay in time order.
    const recordedMs = Math.max(this.now(), this.lastRecordedMs);
    const recordedAt = new Date(recordedMs).toISOString();
    const mode = this.options.contentMode();
    const built: Pending[] = [];
    for (const item of batch) {
      try {
        seq += 1;
        const { entry, line } = buildEntry(item.event, { seq, id: uuidv7(recordedMs), recordedAt, prev, defaultMode: mode, keys: this.keys });
        entries.push(entry);
        chunks.push(line);
        lineBytes.push(Buffer.byteLength(line));
        built.push(item);
        prev = entry.hash;
      } catch (error: unknown) {
        seq -= 1;
        this.options.log(`could not build an entry: ${String(error)}`);
        item.reject(new AuditError(ErrorCodes.Internal, 'the event could not be stored'));
      }
    }
    if (entries.length === 0) return;
    try {
      await this.segments.append(entries, Buffer.from(chunks.join('')), lineBytes);
    } catch (error: unknown) {
      const code = (error as NodeJS.ErrnoException).code;
      const wire =
        code === 'ENOSPC' || code === 'EDQUOT'
          ? new AuditError(ErrorCodes.DiskFull, 'the disk is full: the events were not stored; reads still work', { retry_after_ms: DISK_FULL_RETRY_MS })
          : new AuditError(ErrorCodes.StorageError, `the events were not stored: ${code ?? 'write failed'}`);
      if (wire.code === ErrorCodes.DiskFull) {
        if (this.diskFullSince === null) this.options.log('disk full: ingest paused, reads continue');
        this.diskFullSince = this.now();
      } else {
        this.options.log(`append failed: ${String(error)}`);
      }
      for (const item of built) item.reject(wire);
      return;
    }
    if (this.diskFullSince !== null) this.options.log('disk has space again: ingest resumed');
    this.diskFullSince = null;
    this.lastRecordedMs = recordedMs;
    entries.forEach((entry, i) => built[i]?.resolve({ seq: entry.seq, id: entry.id }));
    for (const listener of this.listeners) {
      try {
        listener(entries);
      } catch (error: unknown) {
        this.options.log(`tail listener failed: ${String(error)}`);
      }
    }
    const every = this.options.checkpointEveryEntries ?? 10_000;
    if (this.lastSeq - this.lastCheckpointSeq >= every) await this.signNow('checkpoint', this.lastSeq, this.lastHash);
  }

  /** Signs the current end of the chain, unless a checkpoint already covers it. */
  async writeCheckpoint(): Promise<void> {
    await this.withExclusive(async () => {
      if (this.lastSeq > this.lastCheckpointSeq && this.segments.lastHash !== null) {
        await this.signNow('checkpoint', this.lastSeq, this.segments.lastHash);
      }
    });
  }

  private async signNow(type: 'checkpoint' | 'anchor', seq: number, hash: string): Promise<void> {
    const checkpoint = signCheckpoint(
      { type, seq, hash, ts: new Date(this.now()).toISOString(), key_id: this.keys.signing.id },
      this.keys.signing.privateKey,
    );
    await appendCheckpoint(this.options.home, checkpoint);
    if (type === 'checkpoint') this.lastCheckpointSeq = Math.max(this.lastCheckpointSeq, seq);
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

  /** Signs a checkpoint at an entry that is not the newest (an export signs the end of its range). */
  async signCheckpointAt(seq: number, hash: string): Promise<void> {
    await this.withExclusive(() => this.signNow('checkpoint', seq, hash));
  }

  /** Newest first, with a cursor for the next page; the cost grows with the page, not the store. */
  async query(filter: EntryFilter | undefined, limit: number, cursor?: string): Promise<{ entries: Entry[]; next_cursor: string | null }> {
    const compiled = compileFilter(filter);
    const list = this.segments.list();
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
    for (; index >= 0; index--) {
      const segment = list[index];
      if (segment === undefined) break;
      if (end > 0 && compiled.mayMatch(segment)) {
        for await (const line of readLinesBackward(join(this.options.home, segment.file), end)) {
          const entry = parseLine(line.text);
          if (entry === null || !compiled.matches(entry)) continue;
          entries.push(entry);
          if (entries.length === limit) {
            return { entries, next_cursor: encodeCursor({ segment: segment.segment, offset: line.offset, seq: entry.seq }) };
          }
        }
      }
      end = list[index - 1]?.bytes ?? 0;
    }
    return { entries, next_cursor: null };
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
  async verify(range: { fromSeq?: number; toSeq?: number }, onProgress?: (checked: number, lastSeq: number) => void): Promise<VerifyReport> {
    return verifyStore(this.options.home, {
      publicKeys: this.keys.signingPublicKeys,
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
    if (this.checkpointTimer !== null) clearInterval(this.checkpointTimer);
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

function parseLine(text: string): Entry | null {
  try {
    return JSON.parse(text) as Entry;
  } catch {
    return null;
  }
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
