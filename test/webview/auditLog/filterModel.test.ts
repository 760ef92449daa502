import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EntryFilter } from '../../../daemon/protocol/messages.ts';
import { describeFilter, emptyForm, fromEntryFilter, toEntryFilter } from '../../../webview/auditLog/filterModel.ts';

const NOW = Date.parse('2026-11-22T12:00:00.000Z');

test('an empty form is no restriction at all', () => {
  assert.deepEqual(toEntryFilter(emptyForm(), NOW), {});
  assert.deepEqual(describeFilter(emptyForm()), []);
});

test('a form becomes a filter the daemon accepts: presets resolve against now, single values stay scalar', () => {
  const form = emptyForm();
  form.preset = '24h';
  form.decision = ['blocked'];
  form.kind = ['chat.input', 'file.upload'];
  form.threatLevel = ['high', 'critical'];
  form.flagged = 'yes';
  form.text = { model: ' gpt-4o ', user: '', mcp_server: 'files' };
  const filter = toEntryFilter(form, NOW);
  assert.deepEqual(filter, {
    since: '2026-11-21T12:00:00.000Z',
    decision: 'blocked',
    kind: ['chat.input', 'file.upload'],
    threat_level: ['high', 'critical'],
    flagged: true,
    model: 'gpt-4o',
    mcp_server: 'files',
  });
  assert.equal(EntryFilter.safeParse(filter).success, true);
  assert.deepEqual(describeFilter(form), ['Last 24 hours', 'kind: chat.input, file.upload', 'decision: blocked', 'threat: high, critical', 'flagged', 'model: gpt-4o', 'mcp server: files']);
});

test('values that are not options are dropped, not sent', () => {
  const form = emptyForm();
  form.decision = ['blocked', 'exploded'];
  form.kind = ['audit.review', 'nope'];
  assert.deepEqual(toEntryFilter(form, NOW), { decision: 'blocked', kind: 'audit.review' });
});

test('a custom range keeps valid bounds and ignores text that is not a time', () => {
  const form = emptyForm();
  form.preset = 'custom';
  form.since = '2026-11-01T00:00:00Z';
  form.until = 'yesterday-ish';
  assert.deepEqual(toEntryFilter(form, NOW), { since: '2026-11-01T00:00:00.000Z' });
});

test('a saved filter with its preset comes back as the same form (the state saved across reloads)', () => {
  const form = emptyForm();
  form.preset = '7d';
  form.decision = ['blocked', 'warned'];
  form.flagged = 'no';
  form.text = { conversation: 'c-1', session: 's-1' };
  const saved = toEntryFilter(form, NOW);
  const back = fromEntryFilter(saved, '7d');
  assert.deepEqual(toEntryFilter(back, NOW), saved);
  assert.equal(back.preset, '7d');
  assert.equal(fromEntryFilter({ since: '2026-01-01T00:00:00.000Z' }, 'bogus').preset, 'custom');
});
