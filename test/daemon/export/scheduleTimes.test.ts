import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { nextTick, zonedToUtc } from '../../../daemon/export/scheduleTimes.ts';

const at = (iso: string): number => Date.parse(iso);
const iso = (ms: number): string => new Date(ms).toISOString();

describe('schedule ticks in a time zone', () => {
  test('hourly at a minute, also in a zone with a half-hour offset', () => {
    assert.equal(iso(nextTick({ every: 'hour', minute: 15 }, 'UTC', at('2026-12-01T10:15:00Z'))), '2026-12-01T11:15:00.000Z');
    // India is UTC+5:30: :00 there is :30 in UTC.
    assert.equal(iso(nextTick({ every: 'hour', minute: 0 }, 'Asia/Kolkata', at('2026-12-01T10:00:00Z'))), '2026-12-01T10:30:00.000Z');
  });

  test('daily at a wall-clock time, across the DST changes of Europe/Berlin', () => {
    assert.equal(iso(nextTick({ every: 'day', time: '02:00' }, 'Europe/Berlin', at('2026-12-01T12:00:00Z'))), '2026-12-02T01:00:00.000Z');
    // 2026-03-29 02:00 does not exist in Berlin (clocks jump 02:00 → 03:00): the run is right after the gap.
    assert.equal(iso(nextTick({ every: 'day', time: '02:30' }, 'Europe/Berlin', at('2026-03-28T12:00:00Z'))), '2026-03-29T01:30:00.000Z');
    // Summer time: 02:00 in Berlin is 00:00 UTC.
    assert.equal(iso(nextTick({ every: 'day', time: '02:00' }, 'Europe/Berlin', at('2026-07-01T12:00:00Z'))), '2026-07-02T00:00:00.000Z');
    // 2026-10-25 02:30 occurs twice: the first one counts.
    assert.equal(iso(zonedToUtc(2026, 10, 25, 2, 30, 'Europe/Berlin')), '2026-10-25T00:30:00.000Z');
  });

  test('weekly on a weekday; monthly on a day, the last day in shorter months', () => {
    // 2026-12-01 is a Tuesday; the next Monday is the 7th.
    assert.equal(iso(nextTick({ every: 'week', day: 1, time: '09:00' }, 'America/New_York', at('2026-12-01T12:00:00Z'))), '2026-12-07T14:00:00.000Z');
    assert.equal(iso(nextTick({ every: 'month', day: 31, time: '00:00' }, 'UTC', at('2027-02-01T00:00:00Z'))), '2027-02-28T00:00:00.000Z');
    assert.equal(iso(nextTick({ every: 'month', day: 1, time: '00:00' }, 'UTC', at('2026-12-01T00:00:00Z'))), '2027-01-01T00:00:00.000Z');
  });

  test('a tick is always strictly after the given time', () => {
    let t = at('2026-01-01T00:00:00Z');
    for (let i = 0; i < 50; i++) {
      const next = nextTick({ every: 'day', time: '23:59' }, 'Pacific/Auckland', t);
      assert.ok(next > t);
      assert.ok(next - t <= 86_400_000 + 3_600_000);
      t = next;
    }
  });
});
