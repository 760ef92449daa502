// The ingest scheduling and memory figures alone, against a real daemon, quicker than `npm run bench`:
//   node --import tsx bench/ingestLatency.ts [--rounds=N] [--fill=EVENTS] [--only=singles,steady,fair,rss]
// singles: one event per request from 8 clients, with the daemon's CPU µs per event (split into the main
// thread and the others: libuv's fdatasyncs, V8's collector), interleaved with a raw writer that fdatasyncs
// per event; steady: ack p50/p99 at 1,000 events/s; fair: 8 clients at full speed, batches of 100; rss: peak
// RSS while one connection ingests batches of 100, 8 in flight. `--fill` first stores that many keyed
// events (100000 fills the idempotency window, as the later rounds of `npm run bench` do). Extra flags for
// the daemon's node go in AI_AUDIT_BENCH_NODE_OPTIONS (e.g. `--import=./preload.mjs` to profile it: node
// refuses `--cpu-prof` in NODE_OPTIONS). Run `npm run build` first: the daemon is dist/cli.mjs.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DaemonClient } from '../daemon/client/daemonClient.ts';
import { startDaemonProcess } from '../test/support/daemonProcess.ts';
import { tempDir } from '../test/support/tempDir.ts';
import { benchEvents } from './benchEvents.ts';
import { CLOCK_TICKS, cpuUs, rssMb } from './processFigures.ts';
import { steadyLatency } from './steadyLatency.ts';
import { median, percentile } from './benchStats.ts';

const args = process.argv.slice(2);
const option = (name: string): string | undefined => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const rounds = Number(option('rounds') ?? 3);
const only = new Set((option('only') ?? 'singles,steady,fair,rss').split(','));
let runs = 0;
const runName = (): string => `l${process.pid}-${runs++}`;

/** CPU µs (user and system) of the main thread and of the other threads of `pid`. */
async function threadCpu(pid: number): Promise<Map<string, number>> {
  const totals = new Map<string, number>();
  for (const tid of await readdir(`/proc/${pid}/task`)) {
    const stat = await readFile(`/proc/${pid}/task/${tid}/stat`, 'utf8').catch(() => '');
    if (stat === '') continue;
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const thread = tid === String(pid) ? 'main' : 'other';
    for (const [field, label] of [[11, 'user'], [12, 'sys']] as const) {
      const key = `${thread} ${label}`;
      totals.set(key, (totals.get(key) ?? 0) + (Number(fields[field]) * 1e6) / CLOCK_TICKS);
    }
  }
  return totals;
}

async function singles(clients: readonly DaemonClient[], total: number): Promise<number> {
  const events = benchEvents(runName(), 0, total);
  let next = 0;
  const started = performance.now();
  await Promise.all(
    clients.map(async (client) => {
      for (let event = events[next++]; event !== undefined; event = events[next++]) await client.request('ingest', { events: [event] });
    }),
  );
  return total / ((performance.now() - started) / 1000);
}

async function fair(clients: readonly DaemonClient[], seconds: number): Promise<{ latencies: number[]; ratio: number; rate: number }> {
  const latencies: number[] = [];
  const counts = clients.map(() => 0);
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(
    clients.map(async (client, c) => {
      const run = runName();
      for (let i = 0; performance.now() < deadline; i += 100) {
        const sent = performance.now();
        await client.request('ingest', { events: benchEvents(run, i, 100) });
        latencies.push(performance.now() - sent);
        counts[c] = (counts[c] ?? 0) + 100;
      }
    }),
  );
  const total = counts.reduce((a, b) => a + b, 0);
  return { latencies, ratio: Math.min(...counts) / Math.max(...counts), rate: total / ((performance.now() - started) / 1000) };
}

async function batched(client: DaemonClient, total: number): Promise<void> {
  const run = runName();
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let from = next; from < total; from = next) {
        next += 100;
        await client.request('ingest', { events: benchEvents(run, from, 100) });
      }
    }),
  );
}

function rawEvent(dir: string, count: number): { rate: number; cpu: number } {
  const out = execFileSync(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('baselineWriter.ts', import.meta.url)), 'raw-event', join(dir, `raw-${runs++}.log`), String(count), '1'], { encoding: 'utf8' });
  const result = JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as { events_per_s: number; cpu_us_per_event: number };
  return { rate: result.events_per_s, cpu: result.cpu_us_per_event };
}

const work = await tempDir('ingest-latency');
const home = await tempDir('ingest-latency-daemon');
const env: NodeJS.ProcessEnv = { AI_AUDIT_MASTER_KEY: randomBytes(32).toString('base64') };
const nodeOptions = process.env.AI_AUDIT_BENCH_NODE_OPTIONS;
if (nodeOptions !== undefined) env.NODE_OPTIONS = nodeOptions;
const daemon = await startDaemonProcess(home.path, env);
const pid = daemon.discovery.pid;
const clients = await Promise.all(Array.from({ length: 8 }, () => daemon.connect()));
const main = clients[0] as DaemonClient;
const rows: Record<string, number[]> = {};
const add = (name: string, value: number): void => void (rows[name] ??= []).push(value);
try {
  await batched(main, Number(option('fill') ?? 2_000));
  add('rss after fill MB', await rssMb(pid));
  for (let round = 0; round < rounds; round++) {
    if (only.has('rss')) {
      let peak = await rssMb(pid);
      const timer = setInterval(() => void rssMb(pid).then((mb) => (peak = Math.max(peak, mb)), () => undefined), 50);
      const before = await cpuUs(pid);
      await batched(main, 40_000);
      clearInterval(timer);
      add('rss peak MB', Math.max(peak, await rssMb(pid)));
      add('batched cpu µs/event', ((await cpuUs(pid)) - before) / 40_000);
    }
    if (only.has('singles')) {
      const before = await cpuUs(pid);
      const threadsBefore = await threadCpu(pid);
      add('singles /s', await singles(clients, 3_000));
      add('singles cpu µs/event', ((await cpuUs(pid)) - before) / 3_000);
      for (const [name, us] of await threadCpu(pid)) add(`  singles ${name} µs/event`, (us - (threadsBefore.get(name) ?? 0)) / 3_000);
      const raw = rawEvent(work.path, 1_000);
      add('raw-event /s', raw.rate);
      add('raw-event cpu µs/event', raw.cpu);
      add('singles ratio', (rows['singles /s']?.at(-1) ?? 0) / raw.rate);
    }
    if (only.has('steady')) {
      const latencies = await steadyLatency(main, runName(), 1000, 5);
      add('steady p50 ms', percentile(latencies, 50));
      add('steady p99 ms', percentile(latencies, 99));
    }
    if (only.has('fair')) {
      const result = await fair(clients, 5);
      add('fair p99 ms', percentile(result.latencies, 99));
      add('fair ratio', result.ratio);
      add('fair /s', result.rate);
    }
    add('rss after round MB', await rssMb(pid));
  }
} finally {
  await Promise.all(clients.map((c) => c.dispose()));
  await daemon.stop();
  await home.dispose();
  await work.dispose();
}
for (const [name, values] of Object.entries(rows)) {
  console.log(`${name.padEnd(26)} median ${median(values).toFixed(2).padStart(9)}   (${values.map((v) => v.toFixed(1)).join(', ')})`);
}
