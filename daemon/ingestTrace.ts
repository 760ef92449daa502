import { writeFileSync } from 'node:fs';
import { PerformanceObserver } from 'node:perf_hooks';

/** What `AI_AUDIT_TRACE_INGEST` records: times in ms on the daemon's `performance` clock. */
export interface IngestTraceFile {
  /** `performance.timeOrigin` of the daemon, to line the times up with a client's. */
  origin: number;
  /** Per frame: [handling started, answered]. */
  frames: Array<[number, number]>;
  /** Per batch: [flush turn started, wait for senders ended, commit started, write started, fdatasync ended, events, ms waited]. */
  batches: Array<[number, number, number, number, number, number, number]>;
  /** Per collector pause: [start, duration, kind (1 scavenge, 2 mark-compact, 4 incremental step, 8 weak callbacks)]. */
  gcs: Array<[number, number, number]>;
}

/**
 * A debug trace of the single-event path (bench/profileSingles.ts `--trace-ingest`): when the daemon is
 * started with `AI_AUDIT_TRACE_INGEST=FILE`, frame, batch and GC times are kept in memory and written to FILE
 * as JSON when the process exits. Off (null) otherwise: the call sites cost one null check. Times only, never
 * content. Meant for short profiling runs: it grows with every frame.
 */
class IngestTrace {
  readonly data: IngestTraceFile = { origin: performance.timeOrigin, frames: [], batches: [], gcs: [] };

  constructor(file: string) {
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        this.data.gcs.push([entry.startTime, entry.duration, (entry.detail as { kind?: number } | null)?.kind ?? 0]);
      }
    }).observe({ entryTypes: ['gc'] });
    process.on('exit', () => writeFileSync(file, JSON.stringify(this.data), { mode: 0o600 }));
  }

  frame(started: number): void {
    this.data.frames.push([started, performance.now()]);
  }

  batch(times: [number, number, number, number, number, number, number]): void {
    this.data.batches.push(times);
  }
}

const traceFile = process.env.AI_AUDIT_TRACE_INGEST;
export const ingestTrace: IngestTrace | null = traceFile === undefined || traceFile === '' ? null : new IngestTrace(traceFile);
