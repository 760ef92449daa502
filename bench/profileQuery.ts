// The bench's 30-day blocked query (bench/benchSuite.ts: `decision: 'blocked'`, `since` 30 days back, pages of
// 1000 until no cursor) against a real daemon (dist/cli.mjs) on a store made by bench/generateStore.ts. The
// store is generated once into STORE_DIR and reused (its key and end time are kept beside it), so that
// before/after runs compare the same bytes. Prints wall time per round and the daemon's CPU time.
// `node --import tsx bench/profileQuery.ts STORE_DIR [ENTRIES] [ROUNDS] [PROFILE_DIR]`: with a profile
// directory, the daemon runs under `--cpu-prof` and writes its profile there when it stops. Build first.
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DaemonClient } from '../daemon/client/daemonClient.ts';
import { readDiscovery } from '../daemon/client/daemonDiscovery.ts';
import { CLI } from '../test/support/daemonProcess.ts';
import { median } from './benchStats.ts';
import { generateStore } from './generateStore.ts';
import { cpuUs } from './processFigures.ts';

const DAY_MS = 86_400_000;
const [storeDir, entriesArg, roundsArg, profileDir] = process.argv.slice(2);
if (storeDir === undefined) throw new Error('usage: profileQuery.ts STORE_DIR [ENTRIES] [ROUNDS] [PROFILE_DIR]');
const entries = Number(entriesArg ?? 1_000_000);
const rounds = Number(roundsArg ?? 3);
const home = join(storeDir, 'home');
const metaPath = join(storeDir, 'meta.json');


let meta: { key: string; endMs: number; entries: number };
try {
  meta = JSON.parse(await readFile(metaPath, 'utf8')) as typeof meta;
} catch {
  meta = { key: randomBytes(32).toString('base64'), endMs: Date.now(), entries };
  await mkdir(home, { recursive: true });
  const started = performance.now();
  await generateStore(home, { AI_AUDIT_MASTER_KEY: meta.key }, entries, 90, meta.endMs);
  console.log(`generated ${entries} entries in ${Math.round(performance.now() - started)} ms`);
  await writeFile(metaPath, JSON.stringify(meta));
}

// QUERY_NODE_FLAGS: more flags for the daemon's node (e.g. `--trace-gc`).
const extra = (process.env.QUERY_NODE_FLAGS ?? '').split(' ').filter((f) => f !== '');
const flags = [...extra, ...(profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`])];
// QUERY_CLI: another build of the CLI (e.g. of main, for a before/after in the same minute).
const child = spawn(process.execPath, [...flags, process.env.QUERY_CLI ?? CLI, 'daemon', '--home', home], {
  env: { ...process.env, AI_AUDIT_MASTER_KEY: meta.key },
  stdio: ['ignore', process.env.QUERY_NODE_FLAGS === undefined ? 'ignore' : 'inherit', 'inherit'],
});
const exited = once(child, 'exit');
let found = await readDiscovery(home);
for (; found === null || found.discovery.pid !== child.pid; found = await readDiscovery(home)) {
  if (child.exitCode !== null) throw new Error(`the daemon exited with ${child.exitCode}`);
  await new Promise((resolve) => setTimeout(resolve, 25));
}
const client = await DaemonClient.connect({ port: found.discovery.port, token: found.token });
await client.request('query', { limit: 100 });
const pid = child.pid ?? 0;
// The same 30 days on every run: relative to the generated store's end, not to now.
const since = new Date(meta.endMs - 30 * DAY_MS).toISOString();
const wall: number[] = [];
const cpu: number[] = [];
const clientCpu: number[] = [];
let pages = 0;
let found0 = -1;
for (let r = 0; r < rounds; r++) {
  const before = await cpuUs(pid);
  const ownBefore = process.cpuUsage();
  const t = performance.now();
  let cursor: string | undefined;
  let count = 0;
  pages = 0;
  do {
    const page = await client.request('query', { filter: { decision: 'blocked', since }, limit: 1000, ...(cursor === undefined ? {} : { cursor }) });
    count += page.entries.length;
    pages++;
    cursor = page.next_cursor ?? undefined;
  } while (cursor !== undefined);
  wall.push(performance.now() - t);
  const own = process.cpuUsage(ownBefore);
  clientCpu.push((own.user + own.system) / 1000);
  cpu.push(((await cpuUs(pid)) - before) / 1000);
  if (found0 !== -1 && found0 !== count) throw new Error(`round ${r} found ${count}, round 0 ${found0}`);
  found0 = count;
}
console.log(JSON.stringify({ entries: meta.entries, found: found0, pages, wall_ms: wall.map(Math.round), median_ms: Math.round(median(wall)), daemon_cpu_ms: cpu.map(Math.round), median_cpu_ms: Math.round(median(cpu)), client_cpu_ms: clientCpu.map(Math.round) }));
await client.dispose();
child.kill('SIGTERM');
await exited;
