import type { DaemonClient } from '../daemon/client/daemonClient.ts';
import { benchEvents } from './benchEvents.ts';

/**
 * Ack latency (ms) of single-event requests sent at a steady `perSecond` (a burst every 10 ms) for
 * `seconds`, each sent without waiting for earlier acks. A burst that falls behind its schedule is sent at
 * once, so the rate holds on average. One load for the bench's figure and the profiling scripts.
 * Acks are counted rather than kept as promises: thousands of settled promises (and their callbacks) kept
 * to the end were copied by every scavenge of this process, whose pauses delay the acks it times.
 */
export async function steadyLatency(client: DaemonClient, run: string, perSecond: number, seconds: number): Promise<number[]> {
  const perTick = Math.max(1, Math.round(perSecond / 100));
  const ticks = Math.round(seconds * 100);
  const latencies = new Float64Array(ticks * perTick);
  let outstanding = 0;
  let failure: unknown = null;
  let allAcked: (() => void) | null = null;
  const start = performance.now();
  let sent = 0;
  for (let t = 0; t < ticks; t++) {
    const delay = start + t * 10 - performance.now();
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
    for (const event of benchEvents(run, t * perTick, perTick)) {
      const slot = sent++;
      const at = performance.now();
      outstanding++;
      client.request('ingest', { events: [event] }).then(
        () => {
          latencies[slot] = performance.now() - at;
          if (--outstanding === 0) allAcked?.();
        },
        (error: unknown) => {
          failure ??= error;
          if (--outstanding === 0) allAcked?.();
        },
      );
    }
  }
  if (outstanding > 0) await new Promise<void>((resolve) => (allAcked = resolve));
  if (failure !== null) throw failure;
  return Array.from(latencies);
}
