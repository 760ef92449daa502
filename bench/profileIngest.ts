// The store's ingest path alone, in this process (no WebSocket, no client): what to run under
// `node --cpu-prof --import tsx bench/profileIngest.ts [EVENTS] [hash|encrypted]` to see where the CPU goes.
// Prints { events_per_s, cpu_us_per_event }. Batches of 100 events, 8 requests outstanding, as in the bench's first figure.
import { randomBytes } from 'node:crypto';
import { openKeyStore } from '../daemon/keys/openKeyStore.ts';
import { AuditStore } from '../daemon/store/auditStore.ts';
import { tempDir } from '../test/support/tempDir.ts';
import { benchEvents } from './benchEvents.ts';

const total = Number(process.argv[2] ?? 100_000);
const mode = process.argv[3] === 'encrypted' ? 'encrypted' : 'hash';
const home = await tempDir('profile');
const keys = await openKeyStore({
  home: home.path,
  env: { AI_AUDIT_MASTER_KEY: randomBytes(32).toString('base64') },
  generation: { read: async () => 1, write: async () => undefined },
}).load();
const store = await AuditStore.open({ home: home.path, keys, contentMode: () => mode, log: () => undefined });
// Frames as the daemon sees them: parsed from JSON text, so no object is shared between events.
const frames: unknown[][] = [];
for (let from = 0; from < total; from += 100) frames.push(JSON.parse(JSON.stringify(benchEvents('p', from, 100))) as unknown[]);
let next = 0;
const cpu = process.cpuUsage();
const started = performance.now();
await Promise.all(
  Array.from({ length: 8 }, async () => {
    while (next < frames.length) await store.ingest(frames[next++] ?? []);
  }),
);
const seconds = (performance.now() - started) / 1000;
const used = process.cpuUsage(cpu);
// CPU time per event is what to compare on a loaded machine: wall time there measures the other jobs.
const cpuUsPerEvent = (used.user + used.system) / total;
console.log(JSON.stringify({ events: total, mode, events_per_s: Math.round(total / seconds), cpu_us_per_event: Number(cpuUsPerEvent.toFixed(1)) }));
await store.close();
await home.dispose();
