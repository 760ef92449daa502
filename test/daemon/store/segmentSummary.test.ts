import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Entry } from '../../../daemon/protocol/entry.ts';
import { addToSummary, emptySummary, utcDay } from '../../../daemon/store/segmentSummary.ts';

const entry = (seq: number, decision: Entry['decision'], flagged = false): Entry =>
  ({ seq, decision, kind: 'chat.input', ts: '2026-11-20T10:00:00.000Z', recorded_at: '2026-11-20T10:00:00.000Z', prev: '', hash: '', scanner: { name: 't', flagged } }) as unknown as Entry;

test('notable lists the offset and length of each entry not allowed or flagged, oldest first', () => {
  const summary = emptySummary(1, 'f');
  let offset = 0;
  for (let seq = 1; seq <= 1000; seq++) {
    const bytes = 100 + (seq % 7);
    addToSummary(summary, entry(seq, seq % 10 === 0 ? 'blocked' : 'allowed', seq % 25 === 1), offset, bytes);
    offset += bytes;
  }
  const listed = summary.notable ?? [];
  assert.equal(listed.length / 2, 100 + 40 - 0);
  assert.equal(listed[0], 0, 'seq 1 is flagged: it starts at byte 0');
  assert.equal(listed[1], 101);
  for (let i = 2; i < listed.length; i += 2) assert.ok((listed[i] ?? 0) > (listed[i - 2] ?? 0));
});

test('notable becomes null once its entries are more than a quarter of the segment', () => {
  const summary = emptySummary(1, 'f');
  for (let seq = 1; seq <= 300; seq++) addToSummary(summary, entry(seq, 'warned'), seq * 100, 100);
  assert.equal(summary.notable, null);
  for (let seq = 301; seq <= 2000; seq++) addToSummary(summary, entry(seq, 'allowed'), seq * 100, 100);
  assert.equal(summary.notable, null, 'it stays null: the segment is read whole');
});

test('entries are counted on the UTC day of their ts, whether or not it is the previous entry\'s', () => {
  const times = [
    '2026-11-20T10:00:00.000Z',
    '2026-11-20T10:00:00.000Z',
    '2026-11-20T23:59:59.999Z',
    // The same first characters, another day in UTC (an offset), and back.
    '2026-11-20T00:30:00.000+02:00',
    '2026-11-20T11:00:00.000Z',
    '2026-11-21T00:00:00.000Z',
    // Shorter than a date: its "day" is what utcDay makes of it, never the previous one's.
    '2026Z',
    '2026ZZ',
    '2026-11-21T00:00:01.000Z',
  ];
  const summary = emptySummary(1, 'f');
  times.forEach((ts, i) => addToSummary(summary, { ...entry(i + 1, 'allowed'), ts }, i * 100, 100));
  const expected: Record<string, { allowed: number }> = {};
  for (const ts of times) (expected[utcDay(ts)] ??= { allowed: 0 }).allowed++;
  assert.deepEqual(summary.days, expected);
  assert.equal(summary.days['2026-11-19']?.allowed, 1);
});
