import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runErrorLine } from '../../../extension/exports/runErrorLine.ts';

test("a run's error line names its code and the destination's reason", () => {
  assert.equal(runErrorLine({ error: null }), null);
  assert.equal(
    runErrorLine({ error: { code: 'destination_error', reason: 'store_damaged', message: 'a stored line after seq 6 is not an entry' } }),
    'a stored line after seq 6 is not an entry [destination_error: store_damaged]',
  );
  // A run recorded before the reason had its own field: the reason was the code.
  assert.equal(runErrorLine({ error: { code: 'access_denied', message: 'denied' } }), 'denied [access_denied]');
});
