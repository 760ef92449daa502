import type { IngestTraceFile } from '../daemon/ingestTrace.ts';
import { percentile } from './benchStats.ts';

/**
 * Where the time of each request went, from a daemon's `AI_AUDIT_TRACE_INGEST` file: for the frames handled
 * after `fromEpochMs`, the time from the frame's handling to its batch's commit (queue, including any wait
 * for senders), building the lines, write + fdatasync, and from the sync to the answer; the collector pauses
 * inside each request; and the same parts averaged over the slowest 1 % of requests. Lines for a report.
 */
export function ingestTraceSummary(trace: IngestTraceFile, fromEpochMs: number): string[] {
  const from = fromEpochMs - trace.origin;
  const frames = trace.frames.filter(([start]) => start >= from);
  const batches = trace.batches.filter((b) => b[4] >= from);
  const parts: Record<string, number[]> = { total: [], queue: [], waited: [], build: [], 'write+fdatasync': [], answer: [], gc: [] };
  let b = 0;
  for (const [start, end] of frames) {
    // The request's batch: the last whose fdatasync ended before the answer (acks follow their sync).
    while (b + 1 < batches.length && (batches[b + 1]?.[4] ?? Infinity) <= end) b++;
    const batch = batches[b];
    if (batch === undefined || batch[4] > end) continue;
    const [, , commit, write, synced, , waited] = batch;
    parts.total?.push(end - start);
    parts.queue?.push(Math.max(0, commit - start));
    parts.waited?.push(waited);
    parts.build?.push(write - commit);
    parts['write+fdatasync']?.push(synced - write);
    parts.answer?.push(end - synced);
    parts.gc?.push(trace.gcs.reduce((sum, [gcStart, duration]) => sum + Math.max(0, Math.min(end, gcStart + duration) - Math.max(start, gcStart)), 0));
  }
  const lines = [`daemon side of ${parts.total?.length ?? 0} requests in ${batches.length} batches (ms): p50 / p90 / p99 / max, and mean over the slowest 1 %`];
  const total = parts.total ?? [];
  const slowest = total.map((t, i) => [t, i] as const).sort((x, y) => y[0] - x[0]).slice(0, Math.max(1, Math.ceil(total.length / 100))).map(([, i]) => i);
  for (const [name, values] of Object.entries(parts)) {
    if (values.length === 0) continue;
    const slow = slowest.reduce((sum, i) => sum + (values[i] ?? 0), 0) / slowest.length;
    const cells = [50, 90, 99].map((p) => percentile(values, p).toFixed(2));
    lines.push(`  ${name.padEnd(16)} ${cells.join(' / ')} / ${Math.max(...values).toFixed(2)}   slowest 1 %: ${slow.toFixed(2)}`);
  }
  const kinds = new Map<number, number[]>();
  for (const [start, duration, kind] of trace.gcs) if (start >= from) kinds.set(kind, [...(kinds.get(kind) ?? []), duration]);
  for (const [kind, pauses] of kinds) lines.push(`  gc kind ${kind}: ${pauses.length} pauses, p50 ${percentile(pauses, 50).toFixed(2)} max ${Math.max(...pauses).toFixed(2)} ms`);
  return lines;
}
