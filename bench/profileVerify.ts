// `verify` of a generated store (bench/generateStore.ts) in this process, as the daemon runs it (signing and
// summary keys, every segment), next to raw SHA-256 over the same segment files, interleaved. Prints wall and
// CPU time of each, so that a change can be judged on a shared machine.
// `node --import tsx bench/profileVerify.ts ENTRIES [DIR] [ROUNDS]`: with DIR the store is kept there (and
// reused when its `.bench-key` is present), so that repeated runs skip the generation.
import { createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { openKeyStore } from '../daemon/keys/openKeyStore.ts';
import { DaemonState } from '../daemon/state/daemonState.ts';
import { verifyStore } from '../daemon/store/chainVerifier.ts';
import { listSegments } from '../daemon/store/segmentPaths.ts';
import { tempDir } from '../test/support/tempDir.ts';
import { generateStore } from './generateStore.ts';

const entries = Number(process.argv[2] ?? 100_000);
const dir = process.argv[3];
const rounds = Number(process.argv[4] ?? 3);

const temp = dir === undefined ? await tempDir('profile-verify') : null;
const home = dir ?? temp?.path ?? '';
await mkdir(home, { recursive: true });
let key: string;
try {
  key = await readFile(join(home, '.bench-key'), 'utf8');
} catch {
  key = randomBytes(32).toString('base64');
  await generateStore(home, { AI_AUDIT_MASTER_KEY: key }, entries, 90, Date.now());
  await writeFile(join(home, '.bench-key'), key);
}
const state = await DaemonState.open(home);
const keys = await openKeyStore({ home, env: { AI_AUDIT_MASTER_KEY: key }, generation: state.keyGeneration }).load();
const segments = await listSegments(home);

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;
const timed = async (run: () => Promise<void>): Promise<{ ms: number; cpuMs: number }> => {
  const cpu = process.cpuUsage();
  const t = performance.now();
  await run();
  const used = process.cpuUsage(cpu);
  return { ms: performance.now() - t, cpuMs: (used.user + used.system) / 1000 };
};
const verify: Array<{ ms: number; cpuMs: number }> = [];
const sha: Array<{ ms: number; cpuMs: number }> = [];
for (let r = 0; r < rounds; r++) {
  verify.push(
    await timed(async () => {
      const report = await verifyStore(home, { publicKeys: keys.signingPublicKeys, summaryKeys: keys.hmacKeys });
      if (!report.ok || report.entries_checked !== entries) throw new Error(`verify failed: ${JSON.stringify(report)}`);
    }),
  );
  sha.push(
    await timed(async () => {
      for (const s of segments) createHash('sha256').update(await readFile(join(home, s.file))).digest('hex');
    }),
  );
}
const v = { ms: median(verify.map((x) => x.ms)), cpuMs: median(verify.map((x) => x.cpuMs)) };
const s = { ms: median(sha.map((x) => x.ms)), cpuMs: median(sha.map((x) => x.cpuMs)) };
console.log(
  JSON.stringify({
    entries,
    segments: segments.length,
    verify_ms: Math.round(v.ms),
    verify_cpu_ms: Math.round(v.cpuMs),
    sha_ms: Math.round(s.ms),
    sha_cpu_ms: Math.round(s.cpuMs),
    ratio_wall: Number((s.ms / v.ms).toFixed(3)),
    ratio_cpu: Number((s.cpuMs / v.cpuMs).toFixed(3)),
  }),
);
await temp?.dispose();
