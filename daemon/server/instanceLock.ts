import { open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { AuditError, ErrorCodes } from '../protocol/errors.ts';

export const LOCK_FILE = 'daemon.lock';

/** Whether a process exists (EPERM: it does, but belongs to someone else). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error: unknown) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * One daemon per data dir. The lock file holds the owner's pid; a lock whose process is gone (kill -9,
 * power loss) is stale and taken over. Released on dispose.
 */
export async function acquireInstanceLock(home: string): Promise<{ dispose(): Promise<void> }> {
  const path = join(home, LOCK_FILE);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const handle = await open(path, 'wx', 0o600);
      await handle.writeFile(String(process.pid));
      await handle.close();
      let released = false;
      return {
        dispose: async () => {
          if (released) return;
          released = true;
          await rm(path, { force: true });
        },
      };
    } catch (error: unknown) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = Number.parseInt(await readFile(path, 'utf8').catch(() => ''), 10);
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && processAlive(owner)) {
        throw new AuditError(ErrorCodes.Internal, `another daemon (pid ${owner}) already serves ${home}`, { pid: owner, reason: 'already_running' });
      }
      await rm(path, { force: true });
    }
  }
  throw new AuditError(ErrorCodes.Internal, `could not take the lock ${path}`);
}
