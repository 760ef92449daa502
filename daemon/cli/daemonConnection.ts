import { ConnectError, DaemonClient } from '../client/daemonClient.ts';
import { discoveryAlive, readDiscovery } from '../client/daemonDiscovery.ts';
import { CliError, ExitCode } from './cliErrors.ts';

/** Connects to the daemon of a data dir, or explains in one line why not (exit code 2). */
export async function connectToDaemon(home: string): Promise<DaemonClient> {
  const found = await readDiscovery(home);
  if (found === null || !discoveryAlive(found.discovery)) {
    throw new CliError(ExitCode.Usage, `no daemon is running for ${home}: start one with \`ai-audit daemon --home ${home}\``);
  }
  try {
    return await DaemonClient.connect({ port: found.discovery.port, token: found.token });
  } catch (error: unknown) {
    if (error instanceof ConnectError) throw new CliError(ExitCode.Usage, error.message);
    throw error;
  }
}

/** Connects if a daemon runs for the data dir, else null. */
export async function connectIfRunning(home: string): Promise<DaemonClient | null> {
  const found = await readDiscovery(home);
  if (found === null || !discoveryAlive(found.discovery)) return null;
  try {
    return await DaemonClient.connect({ port: found.discovery.port, token: found.token });
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
