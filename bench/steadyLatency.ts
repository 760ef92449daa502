import type { DaemonClient } from '../daemon/client/daemonClient.ts';
import { benchEvents } from './benchEvents.ts';

/**
 * Ack latency (ms) of single-event requests sent at a steady `perSecond` (a burst every 10 ms) for
 * `seconds`, each sent without waiting for earlier acks. A burst that falls behind its schedule is sent at
 * once, so the rate holds on average. One load for the bench's figure and the profiling scripts.
 */
export async function steadyLatency(client: DaemonClient, run: string, perSecond: number, seconds: number): Promise<number[]> {
  const perTick = Math.max(1, Math.round(perSecond / 100));
  const ticks = Math.round(seconds * 100);
  const latencies: number[] = [];
  const waits: Array<Promise<void>> = [];
  const start = performance.now();
  for (let t = 0; t < ticks; t++) {
    const delay = start + t * 10 - performance.now();
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
    for (const event of benchEvents(run, t * perTick, perTick)) {
      const sent = performance.now();
      waits.push(client.request('ingest', { events: [event] }).then(() => void latencies.push(performance.now() - sent)));
    }
  }
  await Promise.all(waits);
  return latencies;
}
