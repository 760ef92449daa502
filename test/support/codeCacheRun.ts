// Runs `runCachedBundle` once in a process of its own (V8 keeps compiled scripts per process, so a second load
// in the same process never consults the cache) and prints what it found and which code ran, as JSON.
// Usage: node --import tsx test/support/codeCacheRun.ts BUNDLE CACHE [save]
import { runCachedBundle } from '../../daemon/cli/codeCache.ts';

const [bundle, cache, save] = process.argv.slice(2);
const loaded = runCachedBundle(bundle!, cache!);
const saved = save === 'save' ? loaded.save() : null;
process.stdout.write(JSON.stringify({ status: loaded.status, ran: (globalThis as { codeCacheProbe?: string }).codeCacheProbe, saved }));
