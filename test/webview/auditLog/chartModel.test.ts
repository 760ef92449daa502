import assert from 'node:assert/strict';
import { test } from 'node:test';
import { categoryBars, dayBars, riskBars } from '../../../webview/auditLog/chartModel.ts';
import type { StatsView } from '../../../webview/protocol/auditLogMessages.ts';

const stats: StatsView = {
  total: 14,
  per_day: [
    { day: '2026-11-20', allowed: 4, warned: 2, blocked: 2, error: 0 },
    { day: '2026-11-21', allowed: 2, warned: 0, blocked: 1, error: 1 },
  ],
  top_categories: [
    { category: 'prompt_attack', count: 6 },
    { category: 'pii', count: 3 },
  ],
  risk_by_model: [
    { model: 'gpt-4o', operation: 'chat', mean_risk: 0.8, count: 4 },
    { model: '', operation: '', mean_risk: 0.2, count: 1 },
  ],
};

test('day bars stack decisions in a fixed order, scaled to the busiest day', () => {
  const [first, second] = dayBars(stats);
  assert.equal(first?.total, 8);
  assert.deepEqual(first?.segments.map((s) => [s.decision, s.y0, s.height]), [['allowed', 0, 0.5], ['warned', 0.5, 0.25], ['blocked', 0.75, 0.25]]);
  assert.equal(second?.segments.at(-1)?.decision, 'error');
  assert.equal(second?.segments.reduce((n, s) => n + s.height, 0), 0.5);
});

test('horizontal bars are fractions of the largest value, with readable labels', () => {
  assert.deepEqual(categoryBars(stats).map((b) => b.fraction), [1, 0.5]);
  const risk = riskBars(stats);
  assert.deepEqual(risk.map((b) => b.label), ['gpt-4o · chat', '(no model)']);
  assert.equal(risk[1]?.fraction, 0.25);
});

test('empty stats give empty charts, not NaN', () => {
  const empty: StatsView = { total: 0, per_day: [], top_categories: [], risk_by_model: [] };
  assert.deepEqual(dayBars(empty), []);
  assert.deepEqual(categoryBars(empty), []);
  assert.deepEqual(dayBars({ ...empty, per_day: [{ day: 'd', allowed: 0, warned: 0, blocked: 0, error: 0 }] })[0]?.segments, []);
});
