// The export figure alone, for before/after work on the export path:
//   node --import tsx bench/profileExport.ts [ENTRIES] [ROUNDS] [--gzip] [--cpu-prof-dir=DIR]
// generates a store, starts s3rver and a daemon (under `--cpu-prof` when a folder is given: the profile is
// written when the daemon stops), then alternates an `export.run` and the lib-storage upload of the same
// bytes. Prints { export_ms, upload_ms, ratio, daemon_cpu_us_per_row, upload_cpu_us_per_row } (medians; the
// upload's CPU is this process's, the SDK's share of the comparison).
import { randomBytes } from 'node:crypto';
import { DaemonClient } from '../daemon/client/daemonClient.ts';
import { CLI, startDaemonProcess } from '../test/support/daemonProcess.ts';
import { startS3rver } from '../test/support/s3rverServer.ts';
import { tempDir } from '../test/support/tempDir.ts';
import { median } from './benchStats.ts';
import { emptyPrefix, EXPORT_BUCKET, exportedObjects, S3RVER_DAEMON_ENV, timeExport, timeUpload } from './exportBench.ts';
import { generateStore } from './generateStore.ts';
import { spawnFlaggedDaemon } from './flaggedDaemon.ts';
import { cpuUs } from './processFigures.ts';

const positional = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const entries = Number(positional[0] ?? 200_000);
const rounds = Number(positional[1] ?? 3);
const gzip = process.argv.includes('--gzip');
const profileDir = process.argv.find((a) => a.startsWith('--cpu-prof-dir='))?.slice('--cpu-prof-dir='.length);

const env = { AI_AUDIT_MASTER_KEY: randomBytes(32).toString('base64'), ...S3RVER_DAEMON_ENV };
const home = await tempDir('profile-export');
const s3 = await startS3rver({ buckets: [EXPORT_BUCKET] });
try {
  await generateStore(home.path, env, entries, 90, Date.now());
  // Node 20 refuses --cpu-prof in NODE_OPTIONS: a profiled daemon is spawned here with the flag.
  const daemon = profileDir === undefined ? await startDaemonProcess(home.path, env) : await profiledDaemon(home.path, profileDir);
  const client = await daemon.connect();
  const cpu = (): Promise<number> => cpuUs(daemon.discovery.pid);
  const exportMs: number[] = [];
  const uploadMs: number[] = [];
  const cpuPerRow: number[] = [];
  const uploadCpuPerRow: number[] = [];
  let objects = 0;
  let bytes = 0;
  try {
    for (let r = 0; r < rounds; r++) {
      const exported = await timeExport(client, s3, `e${r}`, gzip, cpu);
      exportMs.push(exported.ms);
      cpuPerRow.push(exported.cpuUs / exported.run.rows);
      const stored = await exportedObjects(s3, `e${r}`);
      objects = stored.length;
      bytes = exported.run.bytes;
      const before = process.cpuUsage();
      uploadMs.push(await timeUpload(s3, `u${r}`, stored, gzip));
      const used = process.cpuUsage(before);
      uploadCpuPerRow.push((used.user + used.system) / exported.run.rows);
      await emptyPrefix(s3, `e${r}`);
      await emptyPrefix(s3, `u${r}`);
      process.stderr.write(`round ${r + 1}: export ${exported.ms.toFixed(0)} ms, upload ${uploadMs.at(-1)?.toFixed(0)} ms\n`);
    }
  } finally {
    await client.dispose();
    await daemon.stop();
  }
  const ex = median(exportMs);
  const up = median(uploadMs);
  console.log(JSON.stringify({ entries, gzip, objects, bytes, export_ms: Math.round(ex), upload_ms: Math.round(up), ratio: Number((up / ex).toFixed(2)), daemon_cpu_us_per_row: Number(median(cpuPerRow).toFixed(1)), upload_cpu_us_per_row: Number(median(uploadCpuPerRow).toFixed(1)) }));
} finally {
  await s3.dispose();
  await home.dispose();
}

async function profiledDaemon(dir: string, profiles: string) {
  const daemon = await spawnFlaggedDaemon(CLI, dir, ['--cpu-prof', `--cpu-prof-dir=${profiles}`], env);
  return {
    discovery: { pid: daemon.child.pid ?? 0 },
    connect: () => DaemonClient.connect({ port: daemon.port, token: daemon.token }),
    stop: async () => {
      daemon.child.kill('SIGTERM');
      await daemon.exited;
    },
  };
}
