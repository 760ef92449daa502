import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConnectError, DaemonClient } from '../client/daemonClient.ts';
import { discoveryAlive } from '../client/daemonDiscovery.ts';
import { DISCOVERY_FILE, TOKEN_FILE, type Discovery } from '../protocol/messages.ts';
import { LOCK_FILE, processAlive } from '../server/instanceLock.ts';
import { CliError, ExitCode } from './cliErrors.ts';
import { cliClientIdentity } from './cliIdentity.ts';

/** What the files of a data dir say about its daemon. */
type DaemonPresence =
  | { state: 'running'; discovery: Discovery; token: string }
  | { state: 'stopped' }
  /** A live daemon whose discovery file or token was deleted (or never written): clients cannot reach it. */
  | { state: 'unreachable'; message: string };

async function readOptional(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch (error: unknown) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

function parseDiscovery(text: string | null): Discovery | null {
  if (text === null) return null;
  try {
    return JSON.parse(text) as Discovery;
  } catch {
    // Half a file or garbage: as good as none; the lock file still tells whether a daemon runs.
    return null;
  }
}

async function findDaemon(home: string): Promise<DaemonPresence> {
  const discovery = parseDiscovery(await readOptional(join(home, DISCOVERY_FILE)));
  const token = (await readOptional(join(home, TOKEN_FILE)))?.trim() ?? null;
  const restart = (pid: number): string => `restart it: stop pid ${pid} (kill ${pid}), then run \`ai-audit daemon --home ${home}\``;
  if (discovery !== null && discoveryAlive(discovery)) {
    if (token !== null && token !== '') return { state: 'running', discovery, token };
    return { state: 'unreachable', message: `the daemon (pid ${discovery.pid}) is running but its token file ${join(home, TOKEN_FILE)} is missing or empty: ${restart(discovery.pid)}` };
  }
  const owner = Number.parseInt((await readOptional(join(home, LOCK_FILE))) ?? '', 10);
  if (Number.isInteger(owner) && owner > 0 && processAlive(owner)) {
    const missing = token === null ? `its discovery file ${DISCOVERY_FILE} and its token file are missing` : `its discovery file ${join(home, DISCOVERY_FILE)} is missing`;
    return { state: 'unreachable', message: `the daemon (pid ${owner}) holds the lock ${join(home, LOCK_FILE)} but ${missing}: ${restart(owner)}` };
  }
  return { state: 'stopped' };
}

async function connect(found: { discovery: Discovery; token: string }): Promise<DaemonClient> {
  return DaemonClient.connect({ port: found.discovery.port, token: found.token }, { client: cliClientIdentity() });
}

/** Connects to the daemon of a data dir, or explains in one line why not (exit code 2). */
export async function connectToDaemon(home: string): Promise<DaemonClient> {
  const found = await findDaemon(home);
  if (found.state === 'unreachable') throw new CliError(ExitCode.Usage, found.message);
  if (found.state === 'stopped') {
    throw new CliError(ExitCode.Usage, `no daemon is running for ${home}: start one with \`ai-audit daemon --home ${home}\``);
  }
  try {
    return await connect(found);
  } catch (error: unknown) {
    if (error instanceof ConnectError) throw new CliError(ExitCode.Usage, error.message);
    throw error;
  }
}

/**
 * Connects if a daemon runs for the data dir, else null. A daemon that runs but cannot be reached (its
 * discovery file or token deleted under it) is an error that says so, never "not running".
 */
export async function connectIfRunning(home: string): Promise<DaemonClient | null> {
  const found = await findDaemon(home);
  if (found.state === 'unreachable') throw new CliError(ExitCode.Usage, found.message);
  if (found.state === 'stopped') return null;
  try {
    return await connect(found);
  } catch {
    return null;
  }
}

/** Runs `work` with a connection to the data dir's daemon, closed afterwards. */
export async function withDaemon<T>(home: string, work: (client: DaemonClient) => Promise<T>): Promise<T> {
  const client = await connectToDaemon(home);
  try {
    return await work(client);
  } finally {
    await client.dispose();
  }
}
