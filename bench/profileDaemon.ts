// The real daemon (dist/cli.mjs, as `npm run bench` starts it) under the bench's first figure: batches of
// 100 events, 8 requests outstanding over one connection. Prints the daemon's CPU time per event (from
// /proc, as bench/benchSuite.ts measures it), so the server part (frames, parse, validation, acks) counts.
// `node --import tsx bench/profileDaemon.ts [EVENTS] [hash|encrypted] [PROFILE_DIR]`: with a directory, the
// daemon runs under `--cpu-prof` and writes its profile there when it stops. Build first (`npm run build`).
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { DaemonClient } from '../daemon/client/daemonClient.ts';
import { readDiscovery } from '../daemon/client/daemonDiscovery.ts';
import { CLI } from '../test/support/daemonProcess.ts';
import { tempDir } from '../test/support/tempDir.ts';
import { benchEvents } from './benchEvents.ts';

const total = Number(process.argv[2] ?? 50_000);
const mode = process.argv[3] === 'encrypted' ? 'encrypted' : 'hash';
const profileDir = process.argv[4];

/** CPU time (user + system, µs) of a process, assuming the usual 100 clock ticks per second. */
async function cpuUs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 1e4;
}

const home = await tempDir('profile-daemon');
// `--cpu-prof` is not allowed in NODE_OPTIONS: the daemon is started here rather than by startDaemonProcess.
const flags = profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`];
const child = spawn(process.execPath, [...flags, CLI, 'daemon', '--home', home.path], {
  env: { ...process.env, AI_AUDIT_MASTER_KEY: randomBytes(32).toString('base64') },
  stdio: ['ignore', 'ignore', 'inherit'],
});
const exited = once(child, 'exit');
let found = await readDiscovery(home.path);
for (; found === null || found.discovery.pid !== child.pid; found = await readDiscovery(home.path)) {
  if (child.exitCode !== null) throw new Error(`the daemon exited with ${child.exitCode}`);
  await new Promise((resolve) => setTimeout(resolve, 25));
}
const client = await DaemonClient.connect({ port: found.discovery.port, token: found.token });
await client.request('settings.set', { content_mode: mode });
const frames = Array.from({ length: Math.ceil(total / 100) }, (_, i) => benchEvents(`p${mode}`, i * 100, 100));
// A short warm-up, so that the figure is of optimized code.
await client.request('ingest', { events: benchEvents('warm', 0, 100) });
const pid = child.pid ?? 0;
let next = 0;
const before = await cpuUs(pid);
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
console.log(JSON.stringify({ events: total, mode, events_per_s: Math.round(total / seconds), daemon_cpu_us_per_event: Number((cpu / total).toFixed(1)) }));
await client.dispose();
child.kill('SIGTERM');
await exited;
await home.dispose();
