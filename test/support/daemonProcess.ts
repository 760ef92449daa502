import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { watch, type FSWatcher } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DaemonClient } from '../../daemon/client/daemonClient.ts';
import { readDiscovery } from '../../daemon/client/daemonDiscovery.ts';
import { DISCOVERY_FILE, type Discovery } from '../../daemon/protocol/messages.ts';

/** The built CLI, as a user runs it (`npm test` builds it first). */
export const CLI = fileURLToPath(new URL('../../dist/cli.mjs', import.meta.url));

export interface DaemonProcess {
  child: ChildProcess;
  discovery: Discovery;
  token: string;
  /** What the daemon wrote to stderr so far. */
  output(): string;
  connect(options?: { origin?: string }): Promise<DaemonClient>;
  /** SIGTERM and wait for a clean exit; returns the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL: no chance to flush or checkpoint. */
  kill9(): Promise<void>;
}

/** The environment for a child: ours, with `env` applied (an `undefined` value removes the variable). */
function childEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const merged: NodeJS.ProcessEnv = { ...process.env };
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined) delete merged[key];
    else merged[key] = value;
  }
  return merged;
}

/** Starts `ai-audit daemon --home HOME` as a child process and waits until it announces its port. */
export async function startDaemonProcess(home: string, env: NodeJS.ProcessEnv = {}, args: string[] = [], options: { cli?: string } = {}): Promise<DaemonProcess> {
  const child = spawn(process.execPath, [options.cli ?? CLI, 'daemon', '--home', home, ...args], {
    env: childEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stdout?.resume();
  const exited = once(child, 'exit');
  const deadline = Date.now() + 20_000;
  // Woken when the discovery file is renamed into place, so that the bench's cold start is not rounded up to
  // the next poll; the 25 ms poll remains (a data folder that does not exist yet cannot be watched).
  const poll = discoveryWatch(home);
  try {
    for (;;) {
      const found = await readDiscovery(home);
      if (found !== null && found.discovery.pid === child.pid) {
        const { discovery, token } = found;
        return {
          child,
          discovery,
          token,
          output: () => output,
          connect: (options = {}) => DaemonClient.connect({ port: discovery.port, token }, options),
          stop: async () => {
            if (child.exitCode !== null) return child.exitCode;
            child.kill('SIGTERM');
            const [code] = (await exited) as [number | null];
            return code;
          },
          kill9: async () => {
            if (child.exitCode !== null || child.signalCode !== null) return;
            child.kill('SIGKILL');
            await exited;
          },
        };
      }
      if (child.exitCode !== null) throw new Error(`the daemon exited with ${child.exitCode}: ${output}`);
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`the daemon did not start in 20 s: ${output}`);
      }
      await poll.next(25);
    }
  } finally {
    poll.close();
  }
}

/** Resolves `next(ms)` after `ms`, or earlier when the discovery file of `home` changes. */
function discoveryWatch(home: string): { next(ms: number): Promise<void>; close(): void } {
  let wake: (() => void) | null = null;
  let watcher: FSWatcher | null = null;
  try {
    watcher = watch(home, (_event, name) => {
      if (name === DISCOVERY_FILE) wake?.();
    });
  } catch {
    // Not there yet: polling only.
  }
  return {
    next: (ms) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(() => resolve(), ms);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      }),
    close: () => watcher?.close(),
  };
}

/** Runs the CLI to completion and returns what it printed. */
export async function runCliProcess(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; input?: string; cli?: string } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [options.cli ?? CLI, ...args], { env: childEnv(options.env ?? {}), stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdin.end(options.input ?? '');
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}
