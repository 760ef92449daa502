import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { openSealedSummary, sealSummary, sealedSummaryText } from '../../../daemon/store/summarySeal.ts';
import { emptySummary } from '../../../daemon/store/segmentSummary.ts';

describe('sealed segment summaries', () => {
  const keys = new Map([
    ['k1', randomBytes(32)],
    ['k2', randomBytes(32)],
  ]);
  const summary = { ...emptySummary(3, 'entries/2026/11/20/000003.jsonl'), count: 7, decisions: { blocked: 4, allowed: 3 } };

  test('a sealed summary opens under any of the store keys, also after rotation', () => {
    const sealed = JSON.stringify(sealSummary(summary, { activeId: 'k1', keys }));
    const opened = openSealedSummary(sealed, keys);
    assert.ok('summary' in opened);
    assert.deepEqual(opened.summary, summary);
  });

  test('an edited count, a missing MAC, an unknown key or garbage is refused', () => {
    const sealed = sealSummary(summary, { activeId: 'k2', keys });
    const edited = { ...sealed, decisions: { allowed: 7 } };
    assert.match(problem(JSON.stringify(edited)), /edited/);
    const { mac: _mac, ...unsealed } = sealed;
    assert.match(problem(JSON.stringify(unsealed)), /no MAC/);
    assert.match(problem(JSON.stringify(sealed), new Map([['k1', keys.get('k1') ?? Buffer.alloc(0)]])), /unknown key k2/);
    assert.match(problem('{'), /not JSON/);
    // The key id is under the MAC too: relabelling a summary as sealed by another key fails.
    assert.match(problem(JSON.stringify({ ...sealed, key_id: 'k1' })), /edited/);
  });

  test('a sidecar text is the MACed bytes with the MAC last: it opens, and an edit of any of its bytes is refused', () => {
    const text = sealedSummaryText(summary, { activeId: 'k2', keys });
    assert.ok(text.endsWith(`,"mac":"${sealSummary(summary, { activeId: 'k2', keys }).mac}"}`), 'the same MAC as sealSummary');
    const opened = openSealedSummary(text, keys);
    assert.ok('summary' in opened);
    assert.deepEqual(opened.summary, summary);
    assert.match(problem(text.replace('"count":7', '"count":8')), /edited/);
    assert.match(problem(text.replace('"key_id":"k2"', '"key_id":"k1"')), /edited/);
    // The MAC moved elsewhere or a member appended after it: the text still opens only if its MAC holds.
    const mac = /"mac":"([0-9a-f]{64})"/.exec(text)?.[1] ?? '';
    const moved = `{"mac":"${mac}",${text.slice(1, text.length - ',"mac":""}'.length - mac.length)}}`;
    assert.deepEqual(openSealedSummary(moved, keys), { summary });
    assert.match(problem(`${text.slice(0, -1)},"count":9}`), /edited|no MAC/);
    assert.match(problem(text, new Map([['k1', keys.get('k1') ?? Buffer.alloc(0)]])), /unknown key k2/);
  });

  function problem(text: string, with_ = keys): string {
    const opened = openSealedSummary(text, with_);
    assert.ok('problem' in opened, 'accepted');
    return opened.problem;
  }
});
