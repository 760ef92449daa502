import assert from 'node:assert/strict';
import { ExportDestinationError } from '../../daemon/export/exportDestination.ts';

/** Asserts that `promise` fails with an ExportDestinationError of `code` (never its message) and returns it. */
export async function rejectsWith(promise: Promise<unknown>, code: ExportDestinationError['code']): Promise<ExportDestinationError> {
  try {
    await promise;
  } catch (error: unknown) {
    assert.ok(error instanceof ExportDestinationError, `expected an ExportDestinationError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`expected ${code}, but it resolved`);
}
