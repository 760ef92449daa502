import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { openSealedSummary, sealSummary } from '../../../daemon/store/summarySeal.ts';
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

  function problem(text: string, with_ = keys): string {
    const opened = openSealedSummary(text, with_);
    assert.ok('problem' in opened, 'accepted');
    return opened.problem;
  }
});
