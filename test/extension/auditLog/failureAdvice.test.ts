import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeFailure, NOT_CONNECTED } from '../../../extension/auditLog/failureAdvice.ts';
import { AuditError, ErrorCodes, type ErrorCode } from '../../../daemon/protocol/errors.ts';

const GENERIC = 'Run "AI Audit Trail: Show Daemon Log" for the details.';

test('a failure reads "<what failed>: <why>. <what to do next>"', () => {
  const text = describeFailure('The export failed', new AuditError(ErrorCodes.DestinationError, 'The bucket does not exist', { reason: 'no_such_bucket' }));
  assert.match(text, /^The export failed: The bucket does not exist \(no_such_bucket\)\. Check the destination with "AI Audit Trail: Configure Export Destination…"/);
});

test('the errors a palette command or the viewer can meet each have their own next step', () => {
  const reachable: ErrorCode[] = [
    ErrorCodes.Busy, ErrorCodes.DiskFull, ErrorCodes.StorageError, ErrorCodes.ReadOnly, ErrorCodes.KeychainUnavailable, ErrorCodes.DecryptFailed,
    ErrorCodes.NotEncrypted, ErrorCodes.NotFound, ErrorCodes.BadCursor, ErrorCodes.ShuttingDown, ErrorCodes.Conflict,
    ErrorCodes.DestinationError, ErrorCodes.Cancelled, ErrorCodes.ExportRunning, ErrorCodes.UnknownMethod, ErrorCodes.InvalidParams,
    ErrorCodes.DaemonOutdated,
  ];
  const advice = new Map(reachable.map((code) => [code, describeFailure('x', new AuditError(code, 'why')).slice('x: why. '.length)]));
  for (const [code, text] of advice) assert.notEqual(text, GENERIC, `${code} has advice of its own`);
  assert.equal(new Set(advice.values()).size, advice.size, 'no two codes share their advice');
});

test('an export stopped by the local store names its reason and sends to verify, not to the destination', () => {
  for (const reason of ['store_damaged', 'store_gap']) {
    const text = describeFailure('The export failed', new AuditError(ErrorCodes.DestinationError, 'why', { reason }));
    assert.ok(text.startsWith(`The export failed: why (${reason}). `), text);
    assert.ok(text.includes('Verify Audit Log Integrity'), text);
    assert.ok(!text.includes('Configure Export Destination'), text);
  }
});

test('anything that is not a daemon error means the daemon is not reachable: restart it or read its log', () => {
  assert.equal(describeFailure('Could not verify', new Error('socket hang up')), `Could not verify: socket hang up. ${NOT_CONNECTED}`);
});
