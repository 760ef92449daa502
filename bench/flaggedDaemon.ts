// A daemon started with node flags of its own (`--cpu-prof`, `--import` of a probe): such flags are not
// allowed in NODE_OPTIONS, so the profiling scripts spawn the CLI here rather than through startDaemonProcess.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readDiscovery } from '../daemon/client/daemonDiscovery.ts';

export interface FlaggedDaemon {
  child: ChildProcess;
  /** Resolves when the process has exited. */
  exited: Promise<unknown[]>;
  port: number;
  token: string;
}

/**
 * Starts `node FLAGS CLI daemon --home HOME` and waits for its discovery file. `env` adds to this process's
 * environment; by default it is a fresh master key.
 */
export async function spawnFlaggedDaemon(
  cli: string,
  home: string,
  flags: readonly string[],
  env: NodeJS.ProcessEnv = { AI_AUDIT_MASTER_KEY: randomBytes(32).toString('base64') },
): Promise<FlaggedDaemon> {
  const child = spawn(process.execPath, [...flags, cli, 'daemon', '--home', home], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = once(child, 'exit');
  let found = await readDiscovery(home);
  for (; found === null || found.discovery.pid !== child.pid; found = await readDiscovery(home)) {
    if (child.exitCode !== null) throw new Error(`the daemon exited with ${child.exitCode}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return { child, exited, port: found.discovery.port, token: found.token };
}
