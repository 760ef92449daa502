import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cell, cellText, CELL_CHARS, detailFields, detailText, DETAIL_CHARS, revealInvisible, reviewLine, verdictText } from '../../../webview/auditLog/entryFormat.ts';
import { entryRow } from '../../../webview/protocol/entryRow.ts';
import { entry } from './entryFixtures.ts';

test('bidi overrides, zero-width and control characters are shown as visible marks', () => {
  assert.equal(revealInvisible('admin\u202Etxt.exe'), 'admin⟨U+202E⟩txt.exe');
  assert.equal(revealInvisible('a\u200Bb\u2066c\uFEFF\u0007'), 'a⟨U+200B⟩b⟨U+2066⟩c⟨U+FEFF⟩⟨U+0007⟩');
  assert.equal(revealInvisible('tab\tand\nnewline stay'), 'tab\tand\nnewline stay');
});

test('table cells are one line and cut; a 1 MB string costs no more than a short one', () => {
  assert.equal(cellText('a\nb'), 'a ⏎ b');
  const huge = cellText('x'.repeat(1_000_000));
  assert.equal(huge.length, CELL_CHARS);
  assert.ok(huge.endsWith('…'));
  const long = detailText('y'.repeat(DETAIL_CHARS + 5));
  assert.ok(long.endsWith('(5 more characters not shown)'));
});

test('markup in log fields stays text (the view only ever sets textContent)', () => {
  const hostile = entry(7, { model: '<img src=x onerror=alert(1)>', content: { mode: 'none', file: { name: '<script>alert(1)</script>.txt' } } });
  assert.equal(cell(entryRow(hostile), 'model'), '<img src=x onerror=alert(1)>');
  assert.equal(cell(entryRow(hostile), 'file'), '<script>alert(1)</script>.txt');
});

test('the scanner verdict reads flagged/clean, threat level and scanner', () => {
  assert.equal(verdictText(entryRow(entry(1, { scanner: { name: 'lakera', flagged: true }, threat_level: 'high' }))), 'flagged · high (lakera)');
  assert.equal(verdictText(entryRow(entry(1, { scanner: { name: 'heuristic', flagged: false } }))), 'clean (heuristic)');
  assert.equal(verdictText(entryRow(entry(1, { scanner: { name: 'lakera', error: { code: 'timeout', message: 't' } } }))), 'scan error (lakera)');
  assert.equal(verdictText(entryRow(entry(1))), '');
  assert.equal(cell(entryRow(entry(1, { scanner: { categories: { pii: true, jailbreak: 0, prompt_attack: 2 } } })), 'categories'), 'pii, prompt_attack');
});

test('the detail lists every field, nested ones by path', () => {
  const e = entry(3, { actor: { user_id: 'alice' }, metadata: { ticket: { id: 'T-1' }, tags: ['a', 'b'] } });
  const fields = new Map(detailFields(e).map((f) => [f.path, f.value]));
  for (const path of ['v', 'seq', 'id', 'hash', 'prev', 'recorded_at', 'ts', 'kind', 'decision', 'content.mode', 'actor.user_id', 'metadata.ticket.id']) {
    assert.ok(fields.has(path), `missing ${path}`);
  }
  assert.equal(fields.get('metadata.tags'), '["a","b"]');
  assert.equal(fields.get('seq'), '3');
});

test('a review reads verdict, reviewer, time, seq and note', () => {
  const review = entry(9, { kind: 'audit.review', audit: { target_seq: 3, reviewer: 'bob', verdict: 'false_positive', note: 'test prompt' } });
  assert.match(reviewLine(review), /^False positive — bob, .* \(#9\): test prompt$/);
});
