import type { StatsView } from '../protocol/auditLogMessages.ts';

/**
 * Geometry of the charts drawn from the daemon's `stats`: plain numbers, so the drawing code stays a
 * thin loop of SVG rectangles and the scaling is tested without a browser.
 */

export const DecisionOrder = ['allowed', 'warned', 'blocked', 'error'] as const;
export type ChartDecision = (typeof DecisionOrder)[number];

export interface StackSegment {
  decision: ChartDecision;
  count: number;
  /** Offset from the bottom and height, as fractions of the tallest day (0..1). */
  y0: number;
  height: number;
}

export interface DayBar {
  day: string;
  total: number;
  segments: StackSegment[];
}

/** One stacked bar per day, scaled to the busiest day. */
export function dayBars(stats: StatsView): DayBar[] {
  const max = Math.max(1, ...stats.per_day.map((d) => d.allowed + d.warned + d.blocked + d.error));
  return stats.per_day.map((d) => {
    let y0 = 0;
    const segments: StackSegment[] = [];
    for (const decision of DecisionOrder) {
      const count = d[decision];
      if (count === 0) continue;
      segments.push({ decision, count, y0: y0 / max, height: count / max });
      y0 += count;
    }
    return { day: d.day, total: y0, segments };
  });
}

export interface HBar {
  label: string;
  value: number;
  /** Length as a fraction of the longest bar (0..1). */
  fraction: number;
  detail: string;
}

export function categoryBars(stats: StatsView): HBar[] {
  const max = Math.max(1, ...stats.top_categories.map((c) => c.count));
  return stats.top_categories.map((c) => ({ label: c.category, value: c.count, fraction: c.count / max, detail: `${c.count} entries` }));
}

/** Mean risk by model and operation, highest first, at most `limit` bars. */
export function riskBars(stats: StatsView, limit = 15): HBar[] {
  const rows = stats.risk_by_model.slice(0, limit);
  const max = Math.max(Number.EPSILON, ...rows.map((r) => r.mean_risk));
  return rows.map((r) => ({
    label: r.operation === '' ? r.model || '(no model)' : `${r.model || '(no model)'} · ${r.operation}`,
    value: r.mean_risk,
    fraction: Math.max(0, r.mean_risk) / max,
    detail: `mean risk ${formatRisk(r.mean_risk)} over ${r.count} entries`,
  }));
}

export function formatRisk(value: number): string {
  return Math.abs(value) >= 10 ? value.toFixed(0) : value.toFixed(2);
}
