import { AuditError, ErrorCodes } from './protocol/errors.ts';

/**
 * Loads a part of the daemon that the build puts in a chunk of its own (`dist/cli-chunks/`, named by content
 * hash) and loads on first use. A running daemon whose files were replaced by an upgrade (a new extension
 * folder, `npm i -g`, a rebuild) finds its own chunks or none, never another version's: none becomes
 * `daemon_outdated`, which says to restart it, instead of an internal error.
 */
export async function importChunk<T>(load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (error: unknown) {
    if ((error as NodeJS.ErrnoException | null)?.code !== 'ERR_MODULE_NOT_FOUND') throw error;
    throw new AuditError(
      ErrorCodes.DaemonOutdated,
      'this audit daemon was upgraded or removed while it ran, and a part it loads on first use is gone: restart it ' +
        '(in VS Code: "AI Audit Trail: Restart Daemon"; else stop `ai-audit daemon` and start it again)',
      undefined,
      { cause: error },
    );
  }
}
