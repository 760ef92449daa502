import type { DestinationProbe } from '../../protocol/destinations.ts';
import { ExportDestinationError } from '../exportDestination.ts';
import type { ObjectBody, PutResult } from '../exportDestination.ts';
import { probeObject } from './objectKeys.ts';
import { isAccessDenied, storageError } from './storageErrors.ts';
import { bufferBody } from './verifiedBody.ts';

/** The three operations a probe tries, each on a key relative to the destination prefix. */
export interface ProbeOperations {
  location: string;
  write(key: string, body: ObjectBody, signal: AbortSignal | undefined): Promise<PutResult>;
  read(key: string, signal: AbortSignal | undefined): Promise<Buffer>;
  remove(key: string, signal: AbortSignal | undefined): Promise<void>;
}

/**
 * Writes a probe object through the data path itself (encryption, storage class, Object Lock — a setting
 * the bucket refuses shows here, not in the first run), then tries to read it back and delete it. Denied
 * read or delete is a valid, recommended setup and is reported, not thrown; only cancellation throws.
 */
export async function runProbe(operations: ProbeOperations, signal: AbortSignal | undefined): Promise<DestinationProbe> {
  const { key, content } = probeObject();
  const { location } = operations;
  const detail: string[] = [];
  try {
    await operations.write(key, bufferBody(content, 'application/json'), signal);
    detail.push(`write: allowed (${location}${key})`);
  } catch (error: unknown) {
    const failure = storageError(error, { operation: 'write', location, key });
    if (failure.code === 'cancelled') throw failure;
    detail.push(`write: failed — ${failure.message}`);
    return { write: false, read: null, delete: null, key, detail };
  }
  const step = async (name: 'read' | 'delete', run: () => Promise<void>): Promise<boolean> => {
    try {
      await run();
      detail.push(`${name}: allowed`);
      return true;
    } catch (error: unknown) {
      const failure = storageError(error, { operation: name, location, key });
      if (failure.code === 'cancelled' || signal?.aborted === true) throw failure;
      detail.push(
        isAccessDenied(failure)
          ? `${name}: denied (fine: writing alone is enough for exports${name === 'delete' ? ', and denying deletes is recommended' : ''})`
          : `${name}: failed — ${failure.message}`,
      );
      return false;
    }
  };
  const read = await step('read', async () => {
    const bytes = await operations.read(key, signal);
    if (!bytes.equals(content)) throw new ExportDestinationError('server_error', 'The probe object read back differs from what was written.');
  });
  const deleted = await step('delete', () => operations.remove(key, signal));
  return { write: true, read, delete: deleted, key, detail };
}
