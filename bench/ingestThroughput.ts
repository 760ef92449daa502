// Durable ingest throughput over one WebSocket connection with batched frames, against a real daemon
// process on a temporary data dir. Target (issue 2): >= 100k events/s.
import { randomBytes } from 'node:crypto';
import { startDaemonProcess } from '../test/support/daemonProcess.ts';
import { tempDir } from '../test/support/tempDir.ts';

const TOTAL = Number(process.env.BENCH_EVENTS ?? 200_000);
const BATCH = 1000;
const IN_FLIGHT = 8;

const home = await tempDir('bench');
const daemon = await startDaemonProcess(home.path, { AI_AUDIT_MASTER_KEY: randomBytes(32).toString('base64') });
const client = await daemon.connect();
const event = (i: number) => ({
  kind: 'chat.input' as const,
  input: `prompt number ${i} with some realistic length of text to hash`,
  provider: 'openai',
  model: 'gpt-4o',
  actor: { user_id: `u${i % 50}`, session_id: `s${i % 500}` },
  scanner: { name: 'lakera', flagged: i % 10 === 0, categories: { prompt_attack: i % 10 === 0 } },
  latency_ms: 12,
  idempotency_key: `bench-${i}`,
});
const start = performance.now();
let sent = 0;
let acked = 0;
async function lane(): Promise<void> {
  while (sent < TOTAL) {
    const from = sent;
    sent += BATCH;
    const events = Array.from({ length: Math.min(BATCH, TOTAL - from) }, (_, j) => event(from + j));
    const { acks } = await client.request('ingest', { events });
    acked += acks.filter((a) => !('error' in a)).length;
  }
}
await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
const seconds = (performance.now() - start) / 1000;
const health = await client.request('health', {});
console.log(JSON.stringify({ events: acked, seconds: Number(seconds.toFixed(2)), events_per_s: Math.round(acked / seconds), store_bytes: health.store_bytes }));
await client.dispose();
await daemon.stop();
await home.dispose();
