import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EntryRow, entryRow, ROW_CHARS } from '../../../webview/protocol/entryRow.ts';
import { entry } from '../auditLog/entryFixtures.ts';

test('a row holds the table columns of an entry and nothing of its content', () => {
  const row = entryRow(
    entry(42, {
      kind: 'file.upload',
      decision: 'blocked',
      model: 'gpt-4o',
      actor: { user_id: 'alice', session_id: 's-1' },
      conversation_id: 'conv-9',
      threat_level: 'high',
      scanner: { name: 'lakera', flagged: true, categories: { pii: true, jailbreak: 0, prompt_attack: 3 } },
      content: { mode: 'encrypted', input_enc: 'c'.repeat(5000), file: { name: 'report.md', size: 10 } },
      metadata: { ticket: 'T-1' },
    }),
  );
  assert.deepEqual(row, {
    seq: 42,
    ts: '2026-11-22T10:00:00.000Z',
    kind: 'file.upload',
    decision: 'blocked',
    scan: 'flagged',
    scanner: 'lakera',
    threat_level: 'high',
    categories: 'pii, prompt_attack',
    model: 'gpt-4o',
    user: 'alice',
    conversation: 'conv-9',
    file: 'report.md',
  });
  assert.equal(EntryRow.safeParse(row).success, true);
});

test('an MCP call shows its server in the file column; a scan error reads as such', () => {
  const row = entryRow(entry(3, { kind: 'mcp.call', mcp: { server: 'github', tool: 'search' }, scanner: { name: 'lakera', flagged: true, error: { code: 'timeout', message: 't' } } }));
  assert.equal(row.file, 'github');
  assert.equal(row.scan, 'scan error');
});

test('long strings are cut, so a page of rows stays small whatever the entries hold', () => {
  const megabyte = 'm'.repeat(1_000_000);
  const row = entryRow(entry(7, { model: megabyte, conversation_id: megabyte, actor: { user_id: megabyte }, content: { mode: 'none', file: { name: megabyte } }, scanner: { categories: { [megabyte.slice(0, 4000)]: true } } }));
  for (const value of [row.model, row.conversation, row.user, row.file, row.categories]) assert.equal(value?.length, ROW_CHARS);
  assert.equal(EntryRow.safeParse(row).success, true);
  const page = Array.from({ length: 200 }, () => row);
  assert.ok(JSON.stringify(page).length < 200 * 6 * ROW_CHARS, 'a page of the largest rows stays under a megabyte');
});
