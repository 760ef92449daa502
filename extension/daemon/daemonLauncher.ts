import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { discoveryAlive, readDiscovery } from '../../daemon/client/daemonDiscovery.ts';
import type { Discovery } from '../../daemon/protocol/messages.ts';

export interface DaemonEndpointInfo {
  discovery: Discovery;
  token: string;
}

/** Where the daemon's start-up output goes, so that a daemon that fails to start can say why. */
export const START_LOG = 'daemon-start.log';

/**
 * Finds the daemon of a data dir, or starts the bundled one: `process.execPath` runs the CLI bundle
 * (with ELECTRON_RUN_AS_NODE=1 under Electron, where execPath is the editor itself), detached, so the
 * daemon outlives the editor window and serves every window and tool of the user.
 */
export async function findOrStartDaemon(options: {
  home: string;
  cliPath: string;
  env: NodeJS.ProcessEnv;
  log: (message: string) => void;
  timeoutMs?: number;
  /**
   * The version of the bundled daemon: a running daemon older than it is stopped and the bundled one started
   * instead. After an upgrade the old daemon would run old code, from a folder VS Code is about to remove
   * (its export SDKs load on first use from there). Only older ones: two windows of different versions must
   * not restart each other in turn.
   */
  replaceOlderThan?: string;
}): Promise<DaemonEndpointInfo> {
  const found = await readDiscovery(options.home);
  if (found !== null && discoveryAlive(found.discovery)) {
    const bundled = options.replaceOlderThan;
    if (bundled === undefined || !isOlderVersion(found.discovery.version, bundled)) return found;
    options.log(`the running audit daemon is version ${found.discovery.version}, older than the bundled ${bundled}: restarting it`);
    await stopDaemon(options.home);
  }
  await mkdir(options.home, { recursive: true, mode: 0o700 });
  const logPath = join(options.home, START_LOG);
  const out = openSync(logPath, 'w', 0o600);
  const env: NodeJS.ProcessEnv = { ...options.env };
  if (process.versions.electron !== undefined) env.ELECTRON_RUN_AS_NODE = '1';
  options.log(`starting the audit daemon for ${options.home}`);
  const child = spawn(process.execPath, [options.cliPath, 'daemon', '--home', options.home], {
    detached: true,
    stdio: ['ignore', out, out],
    env,
  });
  closeSync(out);
  child.unref();
  let exitCode: number | null = null;
  child.once('exit', (code) => {
    exitCode = code ?? 1;
  });
  const deadline = Date.now() + (options.timeoutMs ?? 15_000);
  while (Date.now() < deadline) {
    const started = await readDiscovery(options.home);
    if (started !== null && started.discovery.pid === child.pid) return started;
    if (exitCode !== null) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const output = readFileSync(logPath, 'utf8').trim().split('\n').slice(-5).join('\n');
  throw new DaemonStartError(exitCode === null ? 'the audit daemon did not start in time' : `the audit daemon exited (${exitCode})`, output);
}

/** The daemon could not be started; `output` is the end of what it printed (never secrets). */
export class DaemonStartError extends Error {
  readonly output: string;
  constructor(message: string, output: string) {
    super(output === '' ? message : `${message}: ${output}`);
    this.name = 'DaemonStartError';
    this.output = output;
  }
}

/** Whether dotted version `a` is below `b` (numeric parts; anything unparsable is never older). */
export function isOlderVersion(a: string, b: string): boolean {
  const parse = (v: string): number[] | null => (/^\d+(\.\d+)*$/.test(v) ? v.split('.').map(Number) : null);
  const x = parse(a);
  const y = parse(b);
  if (x === null || y === null) return false;
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d < 0;
  }
  return false;
}

/** Asks a running daemon to stop (SIGTERM: it finishes its batch and signs a checkpoint). */
export async function stopDaemon(home: string, timeoutMs = 10_000): Promise<boolean> {
  const found = await readDiscovery(home);
  if (found === null || !discoveryAlive(found.discovery)) return false;
  process.kill(found.discovery.pid, 'SIGTERM');
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && discoveryAlive(found.discovery)) await new Promise((resolve) => setTimeout(resolve, 100));
  return true;
}
