import type { Entry } from '../protocol/entry.ts';
import type { EntryFilter } from '../protocol/messages.ts';
import type { SegmentSummary } from './segmentSummary.ts';

const asList = <T>(value: T | T[] | undefined): T[] | undefined =>
  value === undefined ? undefined : Array.isArray(value) ? value : [value];

/** A filter compiled once per request: a predicate for entries and one for whole segments. */
export interface CompiledFilter {
  matches(entry: Entry): boolean;
  /** False when no entry of the segment can match (by its summary): the segment is not read. */
  mayMatch(summary: SegmentSummary): boolean;
  /** Whether only the time range restricts (so summaries' aggregates can stand in for whole segments). */
  timeOnly: boolean;
  /** Whether only notable entries can match (see `isNotable`): segments' lists of them can stand in for their lines. */
  notableOnly: boolean;
  sinceMs: number;
  untilMs: number;
}

export function compileFilter(filter: EntryFilter | undefined): CompiledFilter {
  const f = filter ?? {};
  const kinds = asList(f.kind);
  const decisions = asList(f.decision);
  const levels = asList(f.threat_level);
  const sinceMs = f.since === undefined ? Number.NEGATIVE_INFINITY : Date.parse(f.since);
  const untilMs = f.until === undefined ? Number.POSITIVE_INFINITY : Date.parse(f.until);
  const needle = f.text?.toLowerCase();
  const timeOnly =
    kinds === undefined &&
    decisions === undefined &&
    levels === undefined &&
    f.provider === undefined &&
    f.model === undefined &&
    f.user === undefined &&
    f.session === undefined &&
    f.project === undefined &&
    f.customer === undefined &&
    f.conversation === undefined &&
    f.mcp_server === undefined &&
    f.flagged === undefined &&
    needle === undefined;

  const notableOnly = (decisions !== undefined && !decisions.includes('allowed')) || f.flagged === true;

  const matches = (entry: Entry): boolean => {
    if (sinceMs !== Number.NEGATIVE_INFINITY || untilMs !== Number.POSITIVE_INFINITY) {
      const ts = Date.parse(entry.ts);
      if (ts < sinceMs || ts >= untilMs) return false;
    }
    if (kinds !== undefined && !kinds.includes(entry.kind)) return false;
    if (decisions !== undefined && !decisions.includes(entry.decision)) return false;
    if (levels !== undefined && (entry.threat_level === undefined || !levels.includes(entry.threat_level))) return false;
    if (f.provider !== undefined && entry.provider !== f.provider) return false;
    if (f.model !== undefined && entry.model !== f.model) return false;
    if (f.user !== undefined && entry.actor?.user_id !== f.user) return false;
    if (f.session !== undefined && entry.actor?.session_id !== f.session) return false;
    if (f.project !== undefined && entry.project_id !== f.project) return false;
    if (f.customer !== undefined && entry.customer_id !== f.customer) return false;
    if (f.conversation !== undefined && entry.conversation_id !== f.conversation) return false;
    if (f.mcp_server !== undefined && entry.mcp?.server !== f.mcp_server) return false;
    if (f.flagged !== undefined && (entry.scanner?.flagged === true) !== f.flagged) return false;
    if (needle !== undefined && !searchableText(entry).includes(needle)) return false;
    return true;
  };

  const mayMatch = (summary: SegmentSummary): boolean => {
    if (summary.count === 0) return false;
    if (Date.parse(summary.max_ts) < sinceMs || Date.parse(summary.min_ts) >= untilMs) return false;
    if (kinds !== undefined && !kinds.some((k) => (summary.kinds[k] ?? 0) > 0)) return false;
    if (decisions !== undefined && !decisions.some((d) => (summary.decisions[d] ?? 0) > 0)) return false;
    if (f.flagged === true && summary.flagged === 0) return false;
    return true;
  };

  return { matches, mayMatch, timeOnly, notableOnly, sinceMs, untilMs };
}

/** The metadata a text search looks at, lower-cased. Never content: that is hashed or encrypted. */
function searchableText(entry: Entry): string {
  const parts: string[] = [];
  if (entry.reason !== undefined) parts.push(entry.reason);
  if (entry.block_reason !== undefined) parts.push(entry.block_reason);
  if (entry.alerts !== undefined) parts.push(...entry.alerts);
  if (entry.scanner?.detected_patterns !== undefined) parts.push(...entry.scanner.detected_patterns);
  if (entry.scanner?.detectors_triggered !== undefined) parts.push(...entry.scanner.detectors_triggered);
  if (entry.content.file?.name !== undefined) parts.push(entry.content.file.name);
  if (entry.metadata !== undefined) parts.push(JSON.stringify(entry.metadata));
  if (entry.audit !== undefined) parts.push(JSON.stringify(entry.audit));
  return parts.join('\n').toLowerCase();
}
