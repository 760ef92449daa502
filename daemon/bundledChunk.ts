import { AuditError, ErrorCodes } from './protocol/errors.ts';

/** The first chunk found missing: the daemon's files are gone for good, every later load fails the same way. */
let missing: unknown = null;

/**
 * Loads a part of the daemon that the build puts in a chunk of its own (`dist/cli-chunks/`, named by content
 * hash) and loads on first use. A running daemon whose files were replaced by an upgrade (a new extension
 * folder, `npm i -g`, a rebuild) finds its own chunks or none, never another version's: none becomes
 * `daemon_outdated`, which says to restart it, instead of an internal error. Once one is missing, every later
 * load answers the same without trying: in the CommonJS bundle a module whose chunk failed to load counts as
 * loaded, half empty.
 */
export async function importChunk<T>(load: () => Promise<T>): Promise<T> {
  try {
    if (missing !== null) throw missing;
    return await load();
  } catch (error: unknown) {
    const outdated = missingChunkError(error);
    if (outdated === null) throw error;
    missing = outdated;
    throw outdated;
  }
}

/**
 * `daemon_outdated` for a module that could not be found, else null. Also for the `import()`s that code inside
 * a chunk makes itself (the SDKs load a few of their parts on first use, each a chunk of its own): a chunk
 * loaded before an upgrade can still ask for a sibling that the upgrade removed.
 */
export function missingChunkError(error: unknown): AuditError | null {
  // ESM's `import()` and CommonJS's `require` name a missing file differently.
  const code = (error as NodeJS.ErrnoException | null)?.code;
  if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') return null;
  return new AuditError(
    ErrorCodes.DaemonOutdated,
    'this audit daemon was upgraded or removed while it ran, and a part it loads on first use is gone: restart it ' +
      '(in VS Code: "AI Audit Trail: Restart Daemon"; else stop `ai-audit daemon` and start it again)',
    undefined,
    { cause: error },
  );
}
