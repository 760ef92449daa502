import { randomBytes } from 'node:crypto';
import { rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DISCOVERY_FILE, TOKEN_FILE, type Discovery } from '../protocol/messages.ts';

/** A fresh random 256-bit token for each daemon start, written 0600 before the port opens. */
export async function writeToken(home: string): Promise<string> {
  const token = randomBytes(32).toString('base64url');
  const path = join(home, TOKEN_FILE);
  await writeFile(`${path}.tmp`, token, { mode: 0o600 });
  await rename(`${path}.tmp`, path);
  return token;
}

export async function writeDiscovery(home: string, discovery: Discovery): Promise<void> {
  const path = join(home, DISCOVERY_FILE);
  await writeFile(`${path}.tmp`, JSON.stringify(discovery, null, 2) + '\n', { mode: 0o600 });
  await rename(`${path}.tmp`, path);
}

export async function removeDiscovery(home: string): Promise<void> {
  await rm(join(home, DISCOVERY_FILE), { force: true });
}

