import { appendFileSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DAEMON_LOG_FILE } from './protocol/messages.ts';

const MAX_LOG_BYTES = 5 * 1024 * 1024;

/**
 * The daemon's log: one timestamped line per message, to stderr and to `daemon.log` in the data dir
 * (kept under 5 MiB by moving the old file to `daemon.log.1`). Messages carry no content and no secrets.
 * Synchronous on purpose: log lines are rare and must survive a crash right after them.
 */
export function createDaemonLog(home: string, echo: (line: string) => void): (message: string) => void {
  const path = join(home, DAEMON_LOG_FILE);
  return (message: string) => {
    const line = `${new Date().toISOString()} ${message}\n`;
    echo(line);
    try {
      if ((statSync(path, { throwIfNoEntry: false })?.size ?? 0) > MAX_LOG_BYTES) renameSync(path, `${path}.1`);
      appendFileSync(path, line, { mode: 0o600 });
    } catch {
      // A full disk must not take the daemon down through its log.
    }
  };
}
