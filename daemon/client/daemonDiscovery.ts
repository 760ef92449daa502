import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DISCOVERY_FILE, TOKEN_FILE, type Discovery } from '../protocol/messages.ts';

/** The discovery file and token of a data dir, or null when no daemon has announced itself there. */
export async function readDiscovery(home: string): Promise<{ discovery: Discovery; token: string } | null> {
  try {
    const discovery = JSON.parse(await readFile(join(home, DISCOVERY_FILE), 'utf8')) as Discovery;
    const token = (await readFile(join(home, TOKEN_FILE), 'utf8')).trim();
    return { discovery, token };
  } catch (error: unknown) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || error instanceof SyntaxError) return null;
    throw error;
  }
}

/** Whether the process named by a discovery file is still alive (a kill -9 leaves the file behind). */
export function discoveryAlive(discovery: Discovery): boolean {
  try {
    process.kill(discovery.pid, 0);
    return true;
  } catch (error: unknown) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
