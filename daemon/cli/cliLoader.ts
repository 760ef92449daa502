import { fileURLToPath } from 'node:url';
import { tuneGcForDaemon, untuneGc } from '../gcTuning.ts';
import { codeCachePath, runCachedBundle } from './codeCache.ts';

// The `ai-audit` executable (dist/cli.mjs): runs the CLI bundle (dist/cli-main.cjs) with V8's code cache beside
// it (daemon/cli/codeCache.ts), and writes that cache when it had none it could use.
const daemon = process.argv[2] === 'daemon';
// V8 accepts a cache only under the flags it was made with: the daemon's bundle is compiled under the GC flags the
// daemon sets once it runs (its cache is made after that), and then started under V8's defaults until the daemon
// sets them itself, as before (the young generation may grow while the store opens). The CLI's commands keep
// a cache of their own.
if (daemon) tuneGcForDaemon();
const bundlePath = fileURLToPath(new URL('./cli-main.cjs', import.meta.url));
const bundle = runCachedBundle(bundlePath, codeCachePath(bundlePath, daemon ? 'daemon' : 'cli'), { afterCompile: daemon ? untuneGc : undefined });
if (bundle.status !== 'accepted') {
  // The daemon's cache is made once it has started and served its first requests (what a start compiles);
  // a command's when it ends (`process.exit` runs the exit listeners synchronously).
  if (daemon) setTimeout(() => bundle.save(), 2_000).unref();
  else process.once('exit', () => bundle.save());
}
