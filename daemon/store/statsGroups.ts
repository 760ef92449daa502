import type { Entry } from '../protocol/entry.ts';
import type { StatsGroup, StatsGroupBy } from '../protocol/messages.ts';
import { flaggedCategories, utcDay } from './segmentSummary.ts';

/** Most groups a `stats` answer carries (the largest first). */
export const MAX_STATS_GROUPS = 1000;

/** The group keys of an entry: one, except `category` (one per detected category, none when clean). */
export function groupKeys(entry: Entry, by: StatsGroupBy): string[] {
  switch (by) {
    case 'day':
      return [utcDay(entry.ts)];
    case 'model':
      return [entry.model ?? ''];
    case 'operation':
      return [entry.operation ?? ''];
    case 'category':
      return flaggedCategories(entry);
    case 'customer':
      return [entry.customer_id ?? ''];
    case 'user':
      return [entry.actor?.user_id ?? ''];
  }
}

interface Cell {
  allowed: number;
  warned: number;
  blocked: number;
  error: number;
  riskSum: number;
  riskCount: number;
}

/** Decisions and mean risk per group, for `stats` with `by` (the governance questions). */
export class GroupAccumulator {
  private readonly by: StatsGroupBy;
  private readonly cells = new Map<string, Cell>();

  constructor(by: StatsGroupBy) {
    this.by = by;
  }

  add(entry: Entry): void {
    // Like the other aggregates: about AI traffic, not the store's own audit.* records.
    if (entry.kind.startsWith('audit.')) return;
    for (const key of groupKeys(entry, this.by)) {
      let cell = this.cells.get(key);
      if (cell === undefined) {
        cell = { allowed: 0, warned: 0, blocked: 0, error: 0, riskSum: 0, riskCount: 0 };
        this.cells.set(key, cell);
      }
      cell[entry.decision]++;
      if (entry.risk_score !== undefined) {
        cell.riskSum += entry.risk_score;
        cell.riskCount++;
      }
    }
  }

  /** Days in order; other groups by size, then name. */
  result(): StatsGroup[] {
    const groups = [...this.cells].map(([key, c]) => ({
      key,
      total: c.allowed + c.warned + c.blocked + c.error,
      allowed: c.allowed,
      warned: c.warned,
      blocked: c.blocked,
      error: c.error,
      mean_risk: c.riskCount === 0 ? null : c.riskSum / c.riskCount,
    }));
    if (this.by === 'day') groups.sort((a, b) => a.key.localeCompare(b.key));
    else groups.sort((a, b) => b.total - a.total || a.key.localeCompare(b.key));
    return groups.slice(0, MAX_STATS_GROUPS);
  }
}
