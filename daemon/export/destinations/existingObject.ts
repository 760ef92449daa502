import { ExportDestinationError } from '../exportDestination.ts';
import type { ObjectBody, PutResult } from '../exportDestination.ts';

/** What a backend found under a key before writing: its size and `sha256` metadata. */
export interface ExistingObject {
  size: number;
  sha256: string | undefined;
}

/**
 * The outcome of a write whose key exists already: `existed: true` when it holds the same bytes (a run
 * resumed after a crash), otherwise `object_exists` — exports never overwrite.
 */
export function resultForExisting(key: string, body: ObjectBody, found: ExistingObject, location: string): PutResult {
  if (found.size === body.size && found.sha256 === body.sha256) return { key, existed: true };
  throw new ExportDestinationError(
    'object_exists',
    `An object named ${key} already exists in ${location} with other content (${found.size} bytes, ` +
      `${found.sha256 === undefined ? 'no sha256 metadata' : `SHA-256 ${found.sha256}`}). Exports never overwrite: ` +
      'export to another prefix, or move that object away if it does not belong to this export.',
  );
}
