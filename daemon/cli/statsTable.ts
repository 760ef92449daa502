import type { Stats, StatsGroupBy } from '../protocol/messages.ts';

/** Columns padded to their widest cell; numbers right-aligned. */
export function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>, numeric: ReadonlySet<number>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (numeric.has(i) ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

const risk = (value: number | null): string => (value === null ? '-' : value.toFixed(3));

/**
 * `ai-audit stats` as tables: the governance questions (usage per customer, blocked requests, mean risk
 * by model and operation) without SQL. With `by`, one table of groups; otherwise the chart aggregates.
 */
export function formatStats(stats: Stats, by: StatsGroupBy | undefined): string {
  if (by !== undefined) {
    const rows = (stats.groups ?? []).map((g) => [g.key === '' ? '(none)' : g.key, String(g.total), String(g.allowed), String(g.warned), String(g.blocked), String(g.error), risk(g.mean_risk)]);
    return `${table([by, 'total', 'allowed', 'warned', 'blocked', 'error', 'mean risk'], rows, new Set([1, 2, 3, 4, 5, 6]))}\n\n${stats.total} entries`;
  }
  const days = table(
    ['day', 'allowed', 'warned', 'blocked', 'error'],
    stats.per_day.map((d) => [d.day, String(d.allowed), String(d.warned), String(d.blocked), String(d.error)]),
    new Set([1, 2, 3, 4]),
  );
  const categories = table(['category', 'entries'], stats.top_categories.map((c) => [c.category, String(c.count)]), new Set([1]));
  const riskTable = table(
    ['model', 'operation', 'mean risk', 'entries'],
    stats.risk_by_model.map((r) => [r.model === '' ? '(none)' : r.model, r.operation === '' ? '(none)' : r.operation, risk(r.mean_risk), String(r.count)]),
    new Set([2, 3]),
  );
  return [`${stats.total} entries`, '', days, '', 'Top detector categories', categories, '', 'Mean risk by model and operation', riskTable].join('\n');
}
