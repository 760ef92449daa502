import { setFlagsFromString } from 'node:v8';

/**
 * Garbage-collector heuristics for the daemon process, set at the start of `ai-audit daemon`. Under full
 * ingest nearly all garbage is short-lived (frames, parsed events, lines). Old space grows 1.5× between full
 * collections instead of about three times its live size: with ~30 MB live the daemon peaked at 180–250 MB
 * resident with V8's defaults. The young generation keeps V8's default growth (up to 2 × 16 MB): held at its
 * start size it was scavenged so often that the collector took 15–25 % of ingest CPU, for ~25 MB less peak
 * (docs/decisions.md, "Performance: ingest latency and memory" and "Performance: young generation, session 5").
 * The flag is read by V8 at each collection, so setting it at run time takes effect; it changes when memory
 * is collected, never what is kept. Not used by in-process callers of `startDaemon` (tests), whose heaps are
 * not the daemon's.
 */
export const DAEMON_GC_FLAGS = ['--heap-growing-percent=50'] as const;

export function tuneGcForDaemon(): void {
  for (const flag of DAEMON_GC_FLAGS) setFlagsFromString(flag);
}

/**
 * V8's defaults for the flags above (`node --v8-options`, the same in Node 20's V8 11.3 and Node 24's 13.6). Only
 * dist/cli.mjs uses them: it compiles the daemon's bundle under the daemon's flags (V8 accepts a code cache only
 * under the flags it was made with), then starts it under these until the daemon tunes them again, as before.
 */
export const V8_DEFAULT_GC_FLAGS = ['--semi-space-growth-factor=2', '--heap-growing-percent=0'] as const;

export function untuneGc(): void {
  for (const flag of V8_DEFAULT_GC_FLAGS) setFlagsFromString(flag);
}
