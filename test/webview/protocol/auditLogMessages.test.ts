import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AuditLogViewState, FromAuditLog, ToAuditLog } from '../../../webview/protocol/auditLogMessages.ts';
import { entryRow } from '../../../webview/protocol/entryRow.ts';
import { entry } from '../auditLog/entryFixtures.ts';

test('messages from the viewer are validated: unknown types, extra fields and bad filters are refused', () => {
  assert.equal(FromAuditLog.safeParse({ type: 'query', requestId: 1, filter: { decision: 'blocked' }, cursor: null, limit: 200 }).success, true);
  assert.equal(FromAuditLog.safeParse({ type: 'query', requestId: 1, filter: { decision: 'nuked' }, cursor: null, limit: 200 }).success, false);
  assert.equal(FromAuditLog.safeParse({ type: 'query', requestId: 1, filter: {}, cursor: null, limit: 5000 }).success, false);
  assert.equal(FromAuditLog.safeParse({ type: 'decrypt', seq: 3, reason: 'sneaked in' }).success, false);
  assert.equal(FromAuditLog.safeParse({ type: 'decrypt', seq: 0 }).success, false);
  assert.equal(FromAuditLog.safeParse({ type: 'runCommand', command: 'x' }).success, false);
});

test('rows and entries sent to the viewer must be valid', () => {
  assert.equal(ToAuditLog.safeParse({ type: 'page', requestId: 2, rows: [entryRow(entry(5))], nextCursor: null }).success, true);
  assert.equal(ToAuditLog.safeParse({ type: 'page', requestId: 2, rows: [{ ...entryRow(entry(5)), extra: '<script>' }], nextCursor: null }).success, false);
  assert.equal(ToAuditLog.safeParse({ type: 'page', requestId: 2, rows: [entry(5)], nextCursor: null }).success, false, 'whole entries do not go into pages');
  assert.equal(ToAuditLog.safeParse({ type: 'tailEntries', rows: [{ ...entryRow(entry(5)), model: 'x'.repeat(100_000) }] }).success, false);
  assert.equal(ToAuditLog.safeParse({ type: 'detail', entry: entry(5), checkpoint: null, reviews: [] }).success, true);
});

test('the saved view state is checked before use (a tampered state is ignored)', () => {
  assert.equal(AuditLogViewState.safeParse({ filter: { flagged: true }, preset: '7d', tail: true }).success, true);
  assert.equal(AuditLogViewState.safeParse({ filter: { flagged: 'yes' }, preset: '7d', tail: true }).success, false);
  assert.equal(AuditLogViewState.safeParse({ filter: {}, preset: 'all', tail: false, columns: { time: 5 } }).success, false);
});
