import type { ScheduleTiming } from '../protocol/exports.ts';

interface WallTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  weekday: number;
}

const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const formats = new Map<string, Intl.DateTimeFormat>();

function formatFor(zone: string): Intl.DateTimeFormat {
  let format = formats.get(zone);
  if (format === undefined) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      weekday: 'short',
    });
    formats.set(zone, format);
  }
  return format;
}

/** The wall-clock time in `zone` at `ms`. */
export function wallTime(ms: number, zone: string): WallTime {
  const parts: Record<string, string> = {};
  for (const part of formatFor(zone).formatToParts(new Date(ms))) parts[part.type] = part.value;
  return {
    year: Number(parts.year),
    month: Number(parts.month),
    day: Number(parts.day),
    hour: Number(parts.hour),
    minute: Number(parts.minute),
    weekday: WEEKDAYS.indexOf(parts.weekday ?? ''),
  };
}

/**
 * The UTC time at which `zone` shows the given wall time. A wall time skipped by a DST change maps to the
 * moment after the gap; one that occurs twice maps to the first.
 */
export function zonedToUtc(year: number, month: number, day: number, hour: number, minute: number, zone: string): number {
  const asUtc = Date.UTC(year, month - 1, day, hour, minute);
  let guess = asUtc;
  for (let i = 0; i < 3; i++) {
    const shown = wallTime(guess, zone);
    const shownAsUtc = Date.UTC(shown.year, shown.month - 1, shown.day, shown.hour, shown.minute);
    const next = guess + (asUtc - shownAsUtc);
    if (next === guess) break;
    guess = next;
  }
  // Of two instants showing this wall time (autumn), take the earlier one.
  const hourEarlier = guess - 3_600_000;
  const earlier = wallTime(hourEarlier, zone);
  if (Date.UTC(earlier.year, earlier.month - 1, earlier.day, earlier.hour, earlier.minute) === asUtc) return hourEarlier;
  return guess;
}

const daysInMonth = (year: number, month: number): number => new Date(Date.UTC(year, month, 0)).getUTCDate();

/** The first tick of the timing strictly after `afterMs`, in the time zone `zone`. */
export function nextTick(timing: ScheduleTiming, zone: string, afterMs: number): number {
  if (timing.every === 'hour') {
    // Whole minutes from `after`: the first one that shows `minute` past some hour (≤ 61 steps).
    let t = Math.floor(afterMs / 60_000) * 60_000 + 60_000;
    for (let i = 0; i < 24 * 60; i++, t += 60_000) {
      if (wallTime(t, zone).minute === timing.minute) return t;
    }
    throw new RangeError(`no hourly tick found in ${zone}`);
  }
  const [hour = 0, minute = 0] = timing.time.split(':').map(Number);
  const start = wallTime(afterMs, zone);
  // Walk calendar days in the zone (from the day before, for times that fall just across midnight).
  for (let offset = -1; offset < 400; offset++) {
    const date = new Date(Date.UTC(start.year, start.month - 1, start.day + offset));
    const year = date.getUTCFullYear();
    const month = date.getUTCMonth() + 1;
    const day = date.getUTCDate();
    if (timing.every === 'week' && date.getUTCDay() !== timing.day) continue;
    if (timing.every === 'month' && day !== Math.min(timing.day, daysInMonth(year, month))) continue;
    const at = zonedToUtc(year, month, day, hour, minute, zone);
    if (at > afterMs) return at;
  }
  throw new RangeError(`no tick found within 400 days in ${zone}`);
}
