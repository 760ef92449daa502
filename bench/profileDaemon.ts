// The real daemon (dist/cli.mjs, as `npm run bench` starts it) under the bench's first figure: batches of
// 100 events, 8 requests outstanding over one connection. Prints the daemon's CPU time per event (from
// /proc, as bench/benchSuite.ts measures it), so the server part (frames, parse, validation, acks) counts,
// and that of its main thread alone (the rest is fdatasync and the encryption worker).
// `node --import tsx bench/profileDaemon.ts [EVENTS] [hash|encrypted] [PROFILE_DIR]`: with a directory, the
// daemon runs under `--cpu-prof` and writes its profile there when it stops. `PROFILE_CLI=FILE` runs another
// build. Build first (`npm run build`).
import { DaemonClient } from '../daemon/client/daemonClient.ts';
import { CLI } from '../test/support/daemonProcess.ts';
import { tempDir } from '../test/support/tempDir.ts';
import { benchEvents } from './benchEvents.ts';
import { spawnFlaggedDaemon } from './flaggedDaemon.ts';
import { cpuUs, mainThreadCpuUs } from './processFigures.ts';

const total = Number(process.argv[2] ?? 50_000);
const mode = process.argv[3] === 'encrypted' ? 'encrypted' : 'hash';
const profileDir = process.argv[4];
// Another build of the CLI (a copy of dist/cli.mjs and dist/cli-chunks from before a change), for before and after.
const cli = process.env.PROFILE_CLI ?? CLI;

const home = await tempDir('profile-daemon');
const flags = profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`];
const { child, exited, port, token } = await spawnFlaggedDaemon(cli, home.path, flags);
const client = await DaemonClient.connect({ port, token });
await client.request('settings.set', { content_mode: mode });
const frames = Array.from({ length: Math.ceil(total / 100) }, (_, i) => benchEvents(`p${mode}`, i * 100, 100));
// A short warm-up, so that the figure is of optimized code.
await client.request('ingest', { events: benchEvents('warm', 0, 100) });
const pid = child.pid ?? 0;
let next = 0;
const before = await cpuUs(pid);
const mainBefore = await mainThreadCpuUs(pid);
const started = performance.now();
await Promise.all(
  Array.from({ length: 8 }, async () => {
    while (next < frames.length) {
      const { acks } = await client.request('ingest', { events: frames[next++] ?? [] });
      if (acks.some((a) => 'error' in a)) throw new Error(`an event was not stored: ${JSON.stringify(acks.find((a) => 'error' in a))}`);
    }
  }),
);
const seconds = (performance.now() - started) / 1000;
const cpu = (await cpuUs(pid)) - before;
const mainCpu = (await mainThreadCpuUs(pid)) - mainBefore;
console.log(JSON.stringify({ events: total, mode, events_per_s: Math.round(total / seconds), daemon_cpu_us_per_event: Number((cpu / total).toFixed(1)), main_thread_cpu_us_per_event: Number((mainCpu / total).toFixed(1)) }));
await client.dispose();
child.kill('SIGTERM');
await exited;
await home.dispose();
