// The store at scale, against a real daemon process: newest page of 100 and resident memory with
// BENCH_ENTRIES entries stored (default 1,000,000). Targets (issue 2): page < 20 ms, RSS < 80 MB.
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { startDaemonProcess } from '../test/support/daemonProcess.ts';
import { tempDir } from '../test/support/tempDir.ts';

const TOTAL = Number(process.env.BENCH_ENTRIES ?? 1_000_000);
const BATCH = 1000;

async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return Math.round(kb / 1024);
}

const home = await tempDir('bench-scale');
const env = { AI_AUDIT_MASTER_KEY: randomBytes(32).toString('base64') };
let daemon = await startDaemonProcess(home.path, env);
let client = await daemon.connect();
let sent = 0;
const started = performance.now();
async function lane(): Promise<void> {
  while (sent < TOTAL) {
    const from = sent;
    sent += BATCH;
    const events = Array.from({ length: Math.min(BATCH, TOTAL - from) }, (_, j) => ({
      kind: 'chat.input' as const,
      input: `prompt ${from + j}`,
      model: 'gpt-4o',
      actor: { user_id: `u${(from + j) % 50}` },
      decision: (from + j) % 20 === 0 ? ('blocked' as const) : ('allowed' as const),
    }));
    await client.request('ingest', { events });
  }
}
await Promise.all(Array.from({ length: 4 }, lane));
const ingestSeconds = (performance.now() - started) / 1000;

// A fresh start, as after a reboot: what it costs to open a large store, and memory at rest.
await client.dispose();
await daemon.stop();
const restartStarted = performance.now();
daemon = await startDaemonProcess(home.path, env);
const restartMs = Math.round(performance.now() - restartStarted);
client = await daemon.connect();

const times: number[] = [];
for (let i = 0; i < 50; i++) {
  const t = performance.now();
  await client.request('query', { limit: 100 });
  times.push(performance.now() - t);
}
times.sort((a, b) => a - b);
const filtered: number[] = [];
for (let i = 0; i < 20; i++) {
  const t = performance.now();
  await client.request('query', { limit: 100, filter: { decision: 'blocked' } });
  filtered.push(performance.now() - t);
}
filtered.sort((a, b) => a - b);
const health = await client.request('health', {});
const rss = await rssMb(daemon.discovery.pid);
console.log(
  JSON.stringify({
    bench: 'store-at-scale',
    entries: health.entries,
    ingest_events_per_s: Math.round(TOTAL / ingestSeconds),
    restart_ms: restartMs,
    newest_page_100_p50_ms: Number((times[25] ?? 0).toFixed(2)),
    newest_page_100_p95_ms: Number((times[47] ?? 0).toFixed(2)),
    blocked_page_100_p50_ms: Number((filtered[10] ?? 0).toFixed(2)),
    daemon_rss_mb: rss,
    targets: { page_ms: 20, rss_mb: 80 },
  }),
);
await client.dispose();
await daemon.stop();
await home.dispose();
