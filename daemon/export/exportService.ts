import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { KeyMaterial } from '../keys/keyMaterial.ts';
import type { DestinationConfig, DestinationProbe, NamedDestination } from '../protocol/destinations.ts';
import { AuditError, ErrorCodes } from '../protocol/errors.ts';
import type { DestinationRef, ExportLayout, ExportRun, Schedule, ScheduleTiming } from '../protocol/exports.ts';
import type { EntryFilter, Notifications } from '../protocol/messages.ts';
import type { DaemonState } from '../state/daemonState.ts';
import type { AuditStore } from '../store/auditStore.ts';
import { describeDestination } from './destinationUrl.ts';
import { ExportDestinationError, type ExportDestination } from './exportDestination.ts';
import { EXPORT_TMP_DIR, runExport, type CommittedChunk, type ExportPlan } from './exportRunner.ts';
import { openDestination } from './openDestination.ts';
import { nextTick } from './scheduleTimes.ts';

/** The scheduler's clock: real time in the daemon, a controllable one in tests. */
export interface SchedulerClock {
  now(): number;
}

export interface ExportServiceOptions {
  store: AuditStore;
  state: DaemonState;
  home: string;
  keys: () => KeyMaterial;
  log: (message: string) => void;
  clock?: SchedulerClock;
  /** How often the scheduler looks for due schedules (ms, default 1000). */
  pollMs?: number;
  /** Entries per committed chunk (tests make it small). */
  chunkEntries?: number;
  /** Opens a destination (the real factory by default). */
  open?: (config: DestinationConfig) => Promise<ExportDestination>;
}

type Progress = (progress: Notifications['export.progress']) => void;

/** Objects listed per run record; `objects_total` counts the rest. */
const MAX_LISTED_OBJECTS = 1000;

export interface OneTimeExport {
  destination: DestinationRef;
  prefix?: string | undefined;
  layout: ExportLayout;
  gzip: boolean;
  name?: string | undefined;
  filter?: EntryFilter | undefined;
}

export interface ScheduleInput {
  name: string;
  destination: DestinationRef;
  prefix?: string | undefined;
  layout: ExportLayout;
  gzip: boolean;
  timing: ScheduleTiming;
  time_zone: string;
  filter?: EntryFilter | undefined;
  enabled: boolean;
}

/**
 * Exports in the daemon: named destinations, one-time exports, schedules with seq watermarks and the run
 * history, all kept in the daemon state. A schedule's run exports exactly the entries after its watermark;
 * the watermark moves only after a chunk's manifest is written, and a run that did not finish (crash,
 * failure, cancel) is resumed over the same range, so objects get the same names.
 */
export class ExportService {
  private readonly options: ExportServiceOptions;
  private readonly clock: SchedulerClock;
  private readonly running = new Map<string, { controller: AbortController; done: Promise<ExportRun>; schedule: string | null }>();
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(options: ExportServiceOptions) {
    this.options = options;
    this.clock = options.clock ?? { now: Date.now };
  }

  private get state(): DaemonState {
    return this.options.state;
  }

  /** Clears what a crash left in the temp folder, marks unfinished runs, resumes them, starts the timer. */
  async start(): Promise<void> {
    await rm(join(this.options.home, EXPORT_TMP_DIR), { recursive: true, force: true });
    const exports = this.state.exports;
    for (const run of exports.runs) {
      if (run.status === 'running') {
        run.status = 'interrupted';
        run.finished_at = new Date(this.clock.now()).toISOString();
      }
    }
    for (const schedule of exports.schedules) {
      if (schedule.next_run_at === null && schedule.enabled) schedule.next_run_at = this.nextRunAt(schedule);
    }
    await this.state.saveExports();
    for (const schedule of exports.schedules.filter((s) => s.pending !== null)) {
      this.options.log(`export: resuming the interrupted run ${schedule.pending?.run_id ?? ''} of schedule ${schedule.name}`);
      void this.startScheduleRun(schedule.name).done.catch(() => undefined);
    }
    const poll = this.options.pollMs ?? 1000;
    this.timer = setInterval(() => this.tick(), poll);
    this.timer.unref();
  }

  /** Runs every enabled schedule whose time has come (missed ticks during downtime make one catch-up run). */
  private tick(): void {
    if (this.closed) return;
    const now = this.clock.now();
    for (const schedule of this.state.exports.schedules) {
      if (!schedule.enabled || schedule.next_run_at === null || Date.parse(schedule.next_run_at) > now) continue;
      if ([...this.running.values()].some((r) => r.schedule === schedule.name)) continue;
      void this.startScheduleRun(schedule.name).done.catch(() => undefined);
    }
  }

  /** The lowest seq that some schedule has not exported yet: retention keeps it and everything after. */
  retentionFloor(): number {
    return this.state.exports.schedules.reduce((min, s) => Math.min(min, s.watermark_seq + 1), Number.POSITIVE_INFINITY);
  }

  // ---- destinations ----

  listDestinations(): Array<NamedDestination & { location: string }> {
    return this.state.exports.destinations.map((d) => ({ ...d, location: describeDestination(d.config) }));
  }

  async addDestination(destination: NamedDestination, replace: boolean): Promise<NamedDestination & { location: string }> {
    const list = this.state.exports.destinations;
    const at = list.findIndex((d) => d.name === destination.name);
    if (at !== -1 && !replace) throw new AuditError(ErrorCodes.Conflict, `a destination named ${destination.name} exists: remove it first or pass replace`);
    if (at === -1) list.push(destination);
    else list[at] = destination;
    await this.state.saveExports();
    return { ...destination, location: describeDestination(destination.config) };
  }

  async removeDestination(name: string): Promise<void> {
    const list = this.state.exports.destinations;
    const at = list.findIndex((d) => d.name === name);
    if (at === -1) throw new AuditError(ErrorCodes.NotFound, `no destination named ${name}`);
    const users = this.state.exports.schedules.filter((s) => s.destination === name).map((s) => s.name);
    if (users.length > 0) throw new AuditError(ErrorCodes.Conflict, `the schedules ${users.join(', ')} export to ${name}: remove or edit them first`);
    list.splice(at, 1);
    await this.state.saveExports();
  }

  resolveDestination(ref: DestinationRef): DestinationConfig {
    if (typeof ref !== 'string') return ref;
    const found = this.state.exports.destinations.find((d) => d.name === ref);
    if (found === undefined) throw new AuditError(ErrorCodes.NotFound, `no destination named ${ref}: add it with destinations.add`);
    return found.config;
  }

  async testDestination(ref: DestinationRef): Promise<DestinationProbe & { location: string }> {
    const destination = await this.openRef(ref);
    try {
      return { ...(await destination.probe()), location: destination.location };
    } catch (error: unknown) {
      throw toAuditError(error);
    } finally {
      await destination.dispose();
    }
  }

  private async openRef(ref: DestinationRef): Promise<ExportDestination> {
    const config = this.resolveDestination(ref);
    try {
      return await (this.options.open ?? openDestination)(config);
    } catch (error: unknown) {
      throw toAuditError(error);
    }
  }

  // ---- schedules ----

  listSchedules(): Schedule[] {
    return this.state.exports.schedules;
  }

  private schedule(name: string): Schedule {
    const found = this.state.exports.schedules.find((s) => s.name === name);
    if (found === undefined) throw new AuditError(ErrorCodes.NotFound, `no schedule named ${name}`);
    return found;
  }

  async addSchedule(input: ScheduleInput): Promise<Schedule> {
    if (this.state.exports.schedules.some((s) => s.name === input.name)) {
      throw new AuditError(ErrorCodes.Conflict, `a schedule named ${input.name} exists`);
    }
    this.resolveDestination(input.destination);
    const schedule: Schedule = {
      name: input.name,
      destination: input.destination,
      ...(input.prefix === undefined ? {} : { prefix: input.prefix }),
      layout: input.layout,
      gzip: input.gzip,
      timing: input.timing,
      time_zone: input.time_zone,
      ...(input.filter === undefined ? {} : { filter: input.filter }),
      enabled: input.enabled,
      created_at: new Date(this.clock.now()).toISOString(),
      // A new schedule exports from the start of the store: every entry there is (retention keeps them now).
      watermark_seq: Math.max(0, (this.options.store.firstSeq ?? this.options.store.lastSeq + 1) - 1),
      last_manifest: null,
      next_run_at: null,
      pending: null,
      last_run: null,
    };
    schedule.next_run_at = schedule.enabled ? this.nextRunAt(schedule) : null;
    this.state.exports.schedules.push(schedule);
    await this.state.saveExports();
    return schedule;
  }

  async editSchedule(name: string, change: Partial<Omit<ScheduleInput, 'name' | 'enabled'>>): Promise<Schedule> {
    const schedule = this.schedule(name);
    if (change.destination !== undefined) this.resolveDestination(change.destination);
    for (const [key, value] of Object.entries(change)) {
      if (value !== undefined) (schedule as unknown as Record<string, unknown>)[key] = value;
    }
    schedule.next_run_at = schedule.enabled ? this.nextRunAt(schedule) : null;
    await this.state.saveExports();
    return schedule;
  }

  async setEnabled(name: string, enabled: boolean): Promise<Schedule> {
    const schedule = this.schedule(name);
    schedule.enabled = enabled;
    schedule.next_run_at = enabled ? this.nextRunAt(schedule) : null;
    await this.state.saveExports();
    return schedule;
  }

  async removeSchedule(name: string): Promise<void> {
    this.schedule(name);
    if ([...this.running.values()].some((r) => r.schedule === name)) {
      throw new AuditError(ErrorCodes.ExportRunning, `schedule ${name} is running: cancel it first`);
    }
    this.state.exports.schedules = this.state.exports.schedules.filter((s) => s.name !== name);
    await this.state.saveExports();
  }

  private nextRunAt(schedule: Schedule): string {
    return new Date(nextTick(schedule.timing, schedule.time_zone, this.clock.now())).toISOString();
  }

  /** Runs a schedule now; resolves with its run record when done. */
  async runSchedule(name: string, progress?: Progress): Promise<ExportRun> {
    this.schedule(name);
    if ([...this.running.values()].some((r) => r.schedule === name)) {
      throw new AuditError(ErrorCodes.ExportRunning, `schedule ${name} is running already; see export.runs`);
    }
    const run = await this.startScheduleRun(name, progress).done;
    if (run.status !== 'succeeded') throw runFailure(run);
    return run;
  }

  private startScheduleRun(name: string, progress?: Progress): { done: Promise<ExportRun> } {
    const schedule = this.schedule(name);
    const store = this.options.store;
    const nowIso = new Date(this.clock.now()).toISOString();
    const resumed = schedule.pending;
    const pending = resumed ?? { run_id: randomUUID(), started_at: nowIso, seq_to: store.lastSeq };
    schedule.pending = pending;
    // The next tick is planned now: a run that falls behind does not run twice for one tick.
    schedule.next_run_at = schedule.enabled ? this.nextRunAt(schedule) : null;
    let run = this.state.exports.runs.find((r) => r.id === pending.run_id);
    if (run === undefined) {
      run = this.newRun(pending.run_id, name, schedule.layout, pending.started_at, schedule.watermark_seq + 1, pending.seq_to);
      this.state.exports.runs.push(run);
    } else {
      run.status = 'running';
      run.finished_at = null;
      run.error = null;
    }
    const record = run;
    const plan = (config: DestinationConfig): ExportPlan => ({
      chain: schedule.name,
      runId: pending.run_id,
      name: schedule.name,
      startedAt: pending.started_at,
      layout: schedule.layout,
      prefix: schedule.prefix ?? '',
      gzip: schedule.gzip,
      filter: (schedule.filter ?? {}) as EntryFilter,
      destinationType: config.type,
    });
    return this.execute(record, name, progress, async (destination, config, hooks) => {
      await this.state.saveExports();
      await runExport(this.runnerDeps(destination), plan(config), { fromSeq: schedule.watermark_seq + 1, toSeq: pending.seq_to }, schedule.last_manifest?.sha256 ?? null, {
        ...hooks,
        onChunk: async (chunk) => {
          schedule.watermark_seq = chunk.seqTo;
          schedule.last_manifest = { key: chunk.manifestKey, sha256: chunk.manifestSha256 };
          addChunk(record, chunk);
          await this.state.saveExports();
        },
      });
    }, (finished) => {
      // Failed or cancelled runs stay pending: the next run resumes the same range with the same names.
      if (finished.status === 'succeeded') schedule.pending = null;
      schedule.last_run = { id: finished.id, status: finished.status, finished_at: finished.finished_at };
    }, schedule.destination);
  }

  // ---- one-time exports ----

  async runOnce(request: OneTimeExport, progress?: Progress): Promise<ExportRun> {
    const store = this.options.store;
    // An unknown destination name is the caller's mistake, not a run.
    this.resolveDestination(request.destination);
    const id = randomUUID();
    const startedAt = new Date(this.clock.now()).toISOString();
    const name = request.name ?? `export-${startedAt.slice(0, 10)}`;
    // A filter (usually --since) skips the leading segments that cannot match instead of reading them.
    const first = request.filter !== undefined && Object.keys(request.filter).length > 0 ? store.firstSeqThatMayMatch(request.filter) : (store.firstSeq ?? store.lastSeq + 1);
    const run = this.newRun(id, name, request.layout, startedAt, first, store.lastSeq);
    run.schedule = null;
    this.state.exports.runs.push(run);
    const done = this.execute(run, null, progress, async (destination, config, hooks) => {
      await this.state.saveExports();
      let prev: string | null = null;
      const plan: ExportPlan = {
        chain: id,
        runId: id,
        name,
        startedAt,
        layout: request.layout,
        prefix: request.prefix ?? '',
        gzip: request.gzip,
        filter: request.filter ?? {},
        destinationType: config.type,
      };
      await runExport(this.runnerDeps(destination), plan, { fromSeq: first, toSeq: run.seq_to }, prev, {
        ...hooks,
        onChunk: async (chunk) => {
          prev = chunk.manifestSha256;
          addChunk(run, chunk);
          await this.state.saveExports();
        },
      });
    }, () => undefined, request.destination).done;
    const finished = await done;
    if (finished.status !== 'succeeded') throw runFailure(finished);
    return finished;
  }

  private newRun(id: string, name: string, layout: ExportLayout, startedAt: string, seqFrom: number, seqTo: number): ExportRun {
    return {
      id,
      schedule: name,
      name,
      location: '',
      layout,
      status: 'running',
      started_at: startedAt,
      finished_at: null,
      seq_from: seqFrom,
      seq_to: seqTo,
      rows: 0,
      bytes: 0,
      objects: [],
      objects_total: 0,
      manifests: [],
      error: null,
      audit_seq: null,
    };
  }

  private runnerDeps(destination: ExportDestination) {
    const { store, home, keys, log, chunkEntries } = this.options;
    return { store, home, keys, destination, log, ...(chunkEntries === undefined ? {} : { chunkEntries }) };
  }

  /** Opens the destination, runs `work` with cancel and progress, records the outcome and the audit entry. */
  private execute(
    run: ExportRun,
    schedule: string | null,
    progress: Progress | undefined,
    work: (destination: ExportDestination, config: DestinationConfig, hooks: { signal: AbortSignal; onProgress: (o: number, r: number, b: number, s: number) => void }) => Promise<void>,
    after: (run: ExportRun) => void,
    ref: DestinationRef,
  ): { done: Promise<ExportRun> } {
    const controller = new AbortController();
    const done = (async (): Promise<ExportRun> => {
      let destination: ExportDestination | null = null;
      try {
        const config = this.resolveDestination(ref);
        run.location = describeDestination(config);
        destination = await (this.options.open ?? openDestination)(config);
        await work(destination, config, {
          signal: controller.signal,
          onProgress: (objects, rows, bytes, seq) => progress?.({ run_id: run.id, schedule, objects, rows, bytes, seq }),
        });
        run.status = 'succeeded';
      } catch (error: unknown) {
        const wire = toAuditError(error, controller.signal);
        run.status = wire.code === ErrorCodes.Cancelled ? (this.closed ? 'interrupted' : 'cancelled') : 'failed';
        run.error = { code: wire.code, ...(wire.data?.reason === undefined ? {} : { reason: String(wire.data.reason) }), message: wire.message };
        this.options.log(`export: run ${run.id} (${run.name}) ${run.status}: ${wire.message}${wire.code === ErrorCodes.Internal ? ` (${String(error)})` : ''}`);
      } finally {
        await destination?.dispose().catch(() => undefined);
      }
      run.finished_at = new Date(this.clock.now()).toISOString();
      after(run);
      if (run.status !== 'interrupted') {
        try {
          const audit = await this.options.store.appendAudit('audit.export', {
            run_id: run.id,
            schedule,
            name: run.name,
            location: run.location,
            layout: run.layout,
            status: run.status,
            seq_from: run.seq_from,
            seq_to: run.seq_to,
            rows: run.rows,
            bytes: run.bytes,
            objects: run.objects_total,
            manifests: run.manifests,
            error: run.error === null ? null : (run.error.reason ?? run.error.code),
          });
          run.audit_seq = audit.seq;
        } catch (error: unknown) {
          this.options.log(`export: could not record run ${run.id}: ${String(error)}`);
        }
      }
      await this.state.saveExports();
      return run;
    })().finally(() => this.running.delete(run.id));
    this.running.set(run.id, { controller, done, schedule });
    return { done };
  }

  runs(schedule: string | undefined, limit: number): ExportRun[] {
    return this.state.exports.runs.filter((r) => schedule === undefined || r.schedule === schedule).slice(-limit).reverse();
  }

  cancel(runId: string): void {
    const running = this.running.get(runId);
    if (running === undefined) throw new AuditError(ErrorCodes.NotFound, `no export run ${runId} is running`);
    running.controller.abort();
  }

  /** Stops the timer and running exports (they stay pending and resume at the next start). */
  async dispose(): Promise<void> {
    this.closed = true;
    if (this.timer !== null) clearInterval(this.timer);
    const all = [...this.running.values()];
    for (const r of all) r.controller.abort();
    await Promise.allSettled(all.map((r) => r.done));
  }
}

function addChunk(run: ExportRun, chunk: CommittedChunk): void {
  const room = MAX_LISTED_OBJECTS - run.objects.length;
  if (room > 0) run.objects.push(...chunk.objects.slice(0, room));
  run.objects_total += chunk.objects.length;
  run.rows += chunk.rows;
  run.bytes += chunk.bytes;
  run.manifests.push(chunk.manifestKey);
}

function toAuditError(error: unknown, signal?: AbortSignal): AuditError {
  if (error instanceof AuditError) return error;
  if (signal?.aborted === true || (error instanceof ExportDestinationError && error.code === 'cancelled') || (error as Error | null)?.name === 'AbortError') {
    return new AuditError(ErrorCodes.Cancelled, 'the export was cancelled; the chunks written before stay committed');
  }
  if (error instanceof ExportDestinationError) {
    return new AuditError(ErrorCodes.DestinationError, error.message, { reason: error.code, retryable: error.retryable });
  }
  return new AuditError(ErrorCodes.Internal, 'the export failed inside the daemon; see the daemon log', { detail_logged: true }, { cause: error });
}

function runFailure(run: ExportRun): AuditError {
  if (run.status === 'cancelled' || run.status === 'interrupted') return new AuditError(ErrorCodes.Cancelled, run.error?.message ?? 'cancelled', { run_id: run.id });
  // Records from before session 6 carry a destination's reason in `code` and have no `reason`.
  const reason = run.error?.reason;
  const code = run.error?.code ?? 'internal';
  if (reason === undefined && Object.values(ErrorCodes).includes(code as never)) return new AuditError(code as AuditError['code'], run.error?.message ?? '', { run_id: run.id });
  return new AuditError(ErrorCodes.DestinationError, run.error?.message ?? '', { reason: reason ?? code, run_id: run.id });
}
