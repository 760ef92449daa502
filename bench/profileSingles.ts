// The real daemon (dist/cli.mjs) under the one-event-per-request figures: `singles` (8 clients, one request
// outstanding each) and `steady` (1,000 single-event requests/s from one client, 10 every 10 ms).
//   node --import tsx bench/profileSingles.ts [singles|steady] [EVENTS] [--syncs] [--trace=FILE] [--elu] [--prof=DIR] [--cli=FILE] [--trace-ingest] [--node=FLAG]…
// Prints the daemon's CPU µs per event (from /proc) and, for `steady`, the ack latency percentiles next to
// those of a bare write + fdatasync per burst at the same moment (the disk's floor). `--syncs` counts the
// daemon's fdatasync/fsync and other syscalls and context switches per event (`perf stat` on the syscall
// tracepoints: root and perf needed); `--trace=FILE` writes perf trace's per-thread syscall summary;
// `--elu` makes the daemon print its event-loop delay and GC pauses by kind at exit; `--prof=DIR` runs it
// under `--cpu-prof`; `--trace-ingest` prints where the daemon's time per request went (queue and wait for
// senders, building, write + fdatasync, answer, collector pauses; daemon/ingestTrace.ts); `--cli=FILE` runs another build (a copy of dist/cli.mjs from before a change), for
// before and after in the same minute; `--node=FLAG` (repeatable) adds a node or V8 flag to the daemon's command line. On a loaded machine compare counts and CPU, not wall time.
// Build first (`npm run build`).
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { PerformanceObserver } from 'node:perf_hooks';
import { open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DaemonClient } from '../daemon/client/daemonClient.ts';
import { CLI } from '../test/support/daemonProcess.ts';
import { tempDir } from '../test/support/tempDir.ts';
import { benchEvents } from './benchEvents.ts';
import { spawnFlaggedDaemon } from './flaggedDaemon.ts';
import { ingestTraceSummary } from './ingestTraceSummary.ts';
import type { IngestTraceFile } from '../daemon/ingestTrace.ts';
import { randomBytes } from 'node:crypto';
import { cpuUs } from './processFigures.ts';
import { steadyLatency } from './steadyLatency.ts';
import { percentile } from './benchStats.ts';

const args = process.argv.slice(2);
const positional = args.filter((a) => !a.startsWith('--'));
const shape = positional[0] === 'steady' ? 'steady' : 'singles';
const total = Number(positional[1] ?? (shape === 'steady' ? 5_000 : 3_000));
const profileDir = args.find((a) => a.startsWith('--prof='))?.slice('--prof='.length);
const traced = args.includes('--syncs');
const elu = args.includes('--elu');
// Another build of the CLI (a copy of dist/cli.mjs from before a change), for before/after in the same minute.
const cli = args.find((a) => a.startsWith('--cli='))?.slice('--cli='.length) ?? CLI;


const home = await tempDir('profile-singles');
const flags = profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`];
flags.push(...args.filter((a) => a.startsWith('--node=')).map((a) => a.slice('--node='.length)));
if (elu) {
  // Prints the event-loop delay percentiles (ms) to stderr when the daemon exits.
  const preload = join(home.path, 'elu.mjs');
  await writeFile(
    preload,
    [
      "import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';",
      'const h = monitorEventLoopDelay({ resolution: 1 }); h.enable();',
      'const gc = new Map();',
      "new PerformanceObserver((list) => { for (const e of list.getEntries()) { const k = e.detail?.kind ?? 0; const a = gc.get(k) ?? []; a.push(e.duration); gc.set(k, a); } }).observe({ entryTypes: ['gc'] });",
      "process.on('exit', () => {",
      '  process.stderr.write(`event loop delay ms: p50 ${(h.percentile(50) / 1e6).toFixed(2)} p99 ${(h.percentile(99) / 1e6).toFixed(2)} max ${(h.max / 1e6).toFixed(2)}\\n`);',
      '  // kind: 1 minor (scavenge), 2 major (mark-compact), 4 incremental marking step, 8 weak callbacks',
      '  for (const [k, a] of gc) { a.sort((x, y) => x - y); process.stderr.write(`gc kind ${k}: ${a.length} pauses, p50 ${a[a.length >> 1].toFixed(2)} max ${a[a.length - 1].toFixed(2)} total ${a.reduce((s, x) => s + x, 0).toFixed(1)} ms\\n`); }',
      '});',
    ].join('\n'),
  );
  flags.push(`--import=${preload}`);
}
const traceIngest = args.includes('--trace-ingest') ? join(home.path, 'ingest-trace.json') : null;
const daemonEnv: NodeJS.ProcessEnv = { AI_AUDIT_MASTER_KEY: randomBytes(32).toString('base64') };
if (traceIngest !== null) daemonEnv.AI_AUDIT_TRACE_INGEST = traceIngest;
const { child, exited, port, token } = await spawnFlaggedDaemon(cli, home.path, flags, daemonEnv);
const clients = await Promise.all(Array.from({ length: 8 }, () => DaemonClient.connect({ port, token })));
const main = clients[0] as DaemonClient;
// A warm-up in the same shape, so that the figure is of optimized code.
for (const event of benchEvents('warm', 0, 400)) await main.request('ingest', { events: [event] });
const pid = child.pid ?? 0;

let perf: ChildProcess | null = null;
const perfOut = join(home.path, 'perf.csv');
if (traced) {
  const calls = ['fdatasync', 'fsync', 'pwrite64', 'write', 'writev', 'read', 'epoll_pwait', 'epoll_wait', 'futex', 'munmap', 'madvise', 'mprotect'];
  const events = [...calls.map((c) => `syscalls:sys_enter_${c}`), 'context-switches', 'cpu-migrations'].join(',');
  perf = spawn('perf', ['stat', '-x', ',', '-e', events, '-o', perfOut, '-p', String(pid)], { stdio: 'ignore' });
  await new Promise((resolve) => setTimeout(resolve, 500));
}

// `--trace=FILE`: perf trace's per-thread syscall summary of the measured part (which thread wakes how often).
const traceFile = args.find((a) => a.startsWith('--trace='))?.slice('--trace='.length);
const tracer = traceFile === undefined ? null : spawn('perf', ['trace', '-s', '-o', traceFile, '-p', String(pid)], { stdio: 'ignore' });
if (tracer !== null) await new Promise((resolve) => setTimeout(resolve, 500));
// This process's own collector pauses while it measures: a client-side pause delays the acks it times.
const clientGc: number[] = [];
const gcObserver = new PerformanceObserver((list) => void clientGc.push(...list.getEntries().map((e) => e.duration)));
gcObserver.observe({ entryTypes: ['gc'] });
const before = await cpuUs(pid);
const clientBefore = process.cpuUsage();
const started = performance.now();
const startedEpoch = performance.timeOrigin + started;
const latencies: number[] = [];
if (shape === 'singles') {
  const events = benchEvents(`s${process.pid}`, 0, total);
  let next = 0;
  await Promise.all(
    clients.map(async (client) => {
      for (let event = events[next++]; event !== undefined; event = events[next++]) await client.request('ingest', { events: [event] });
    }),
  );
} else {
  latencies.push(...(await steadyLatency(main, `t${process.pid}`, 1000, total / 1000)));
}
const seconds = (performance.now() - started) / 1000;
gcObserver.disconnect();
const cpu = (await cpuUs(pid)) - before;
const clientCpu = process.cpuUsage(clientBefore);
if (tracer !== null) {
  const stopped = once(tracer, 'exit');
  tracer.kill('SIGINT');
  await stopped;
}
let syncs: number | null = null;
const perEvent: Record<string, number> = {};
if (perf !== null) {
  const stopped = once(perf, 'exit');
  perf.kill('SIGINT');
  await stopped;
  const table = await readFile(perfOut, 'utf8').catch(() => '');
  syncs = 0;
  // CSV lines: count,unit,event,…
  for (const line of table.split('\n')) {
    const [count = '', , event = ''] = line.split(',');
    const name = event.replace('syscalls:sys_enter_', '');
    if (name === '' || !/^\d+$/.test(count)) continue;
    perEvent[name] = Number((Number(count) / total).toFixed(3));
    if (name === 'fdatasync' || name === 'fsync') syncs += Number(count);
  }
}
const report: Record<string, number | string | null> = {
  shape,
  events: total,
  events_per_s: Math.round(total / seconds),
  daemon_cpu_us_per_event: Number((cpu / total).toFixed(1)),
  // This process: the clients' side of the same requests (serializing, framing, reading acks).
  client_cpu_us_per_event: Number(((clientCpu.user + clientCpu.system) / total).toFixed(1)),
  syncs_per_event: syncs === null ? null : Number((syncs / total).toFixed(3)),
  load: (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' '),
};
if (shape === 'steady') {
  for (const p of [50, 90, 99, 99.9]) report[`p${p}_ms`] = Number(percentile(latencies, p).toFixed(2));
  report.max_ms = Number(Math.max(...latencies).toFixed(2));
  report.client_gc_pauses = clientGc.length;
  report.client_gc_max_ms = Number(Math.max(0, ...clientGc).toFixed(2));
  // The disk's own floor at the same moment: a burst's worth of lines (10 entries) written and fdatasync'ed
  // every 10 ms, as the daemon's group commit does for each burst.
  const handle = await open(join(home.path, 'raw-fsync.log'), 'a', 0o600);
  const raw: number[] = [];
  const chunk = Buffer.alloc(10 * 700, 'x');
  const rawStart = performance.now();
  for (let i = 0; i < total / 10; i++) {
    const delay = rawStart + i * 10 - performance.now();
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
    const t = performance.now();
    await handle.write(chunk);
    await handle.datasync();
    raw.push(performance.now() - t);
  }
  await handle.close();
  for (const p of [50, 99]) report[`raw_write_fdatasync_p${p}_ms`] = Number(percentile(raw, p).toFixed(2));
}
console.log(JSON.stringify(report));
if (Object.keys(perEvent).length > 0) console.log(`per event: ${JSON.stringify(perEvent)}`);
await Promise.all(clients.map((c) => c.dispose()));
child.kill('SIGTERM');
await exited;
if (traceIngest !== null) {
  const trace = JSON.parse(await readFile(traceIngest, 'utf8')) as IngestTraceFile;
  for (const line of ingestTraceSummary(trace, startedEpoch)) console.log(line);
}
await home.dispose();
