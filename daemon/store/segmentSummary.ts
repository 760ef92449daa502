import type { Decision, Entry } from '../protocol/entry.ts';

/**
 * What the daemon knows about one segment without reading it: seq and time ranges, counts for pruning
 * queries, and aggregates for charts. Kept as a sidecar file next to each closed segment. It is a cache,
 * never trusted by verify: a missing or inconsistent sidecar is rebuilt from the segment.
 */
export interface SegmentSummary {
  /** Global segment number (file name). */
  segment: number;
  /** Path relative to the data dir, e.g. `entries/2026/11/22/000001.jsonl`. */
  file: string;
  bytes: number;
  count: number;
  first_seq: number;
  last_seq: number;
  /** `prev` of the first entry and `hash` of the last: how this segment links into the chain. */
  first_prev: string;
  last_hash: string;
  /** Smallest and largest `ts` (producer time) in the segment. */
  min_ts: string;
  max_ts: string;
  /** First and last `recorded_at` (daemon time, non-decreasing). */
  first_recorded: string;
  last_recorded: string;
  kinds: Record<string, number>;
  decisions: Partial<Record<Decision, number>>;
  flagged: number;
  /** Entries that carry an idempotency key (segments without any are skipped when keys are reloaded). */
  keyed: number;
  /** Per `ts` day (UTC, YYYY-MM-DD): counts per decision. */
  days: Record<string, Partial<Record<Decision, number>>>;
  /** Flagged categories: category → entries where it was detected. */
  categories: Record<string, number>;
  /** `model \u001f operation` → [sum of risk_score, entries with a risk_score]. */
  risk: Record<string, [number, number]>;
  /** Byte offset of every {@link SPARSE_STEP}-th entry, for lookups by seq. */
  offsets: number[];
  /**
   * Where the notable entries are (decision other than `allowed`, or flagged by the scanner): byte offset
   * and line length of each, in pairs, oldest first, so that a query for them reads only their lines. Null
   * once they are more than a quarter of the segment (reading it whole is then as cheap); absent in
   * sidecars written before it existed (the query reads those segments whole).
   */
  notable?: number[] | null;
}

/** The members of an entry a summary counts (verify reads just these from a line's bytes). */
export type SummaryFields = Pick<Entry, 'seq' | 'prev' | 'hash' | 'ts' | 'recorded_at' | 'kind' | 'decision' | 'scanner' | 'idempotency_key' | 'risk_score' | 'model' | 'operation'>;

/**
 * Whether a parsed line has the members a summary reads, with their types. Lines come from files an attacker
 * may have edited: a line that parses but lacks `ts` or `kind`, or has `scanner.categories: null`, must be
 * reported as not an entry, never crash the walk that reads it with a TypeError.
 */
export function hasSummaryFields(value: unknown): value is SummaryFields {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const entry = value as Record<string, unknown>;
  if (typeof entry.seq !== 'number' || typeof entry.ts !== 'string' || typeof entry.kind !== 'string' || typeof entry.decision !== 'string') return false;
  if (typeof entry.hash !== 'string' || typeof entry.prev !== 'string' || typeof entry.recorded_at !== 'string') return false;
  return entry.scanner === undefined || isSummarizableScanner(entry.scanner);
}

/** Whether a `scanner` member is an object whose `categories`, if present, is one too (what summaries count). */
export function isSummarizableScanner(scanner: unknown): boolean {
  if (typeof scanner !== 'object' || scanner === null || Array.isArray(scanner)) return false;
  const categories = (scanner as Record<string, unknown>).categories;
  return categories === undefined || (typeof categories === 'object' && categories !== null);
}

/** Notable entries are listed while they are at most this share of a segment (past its first entries). */
const NOTABLE_SHARE = 4;
const NOTABLE_MIN = 256;

/** Whether an entry is listed in {@link SegmentSummary.notable}. */
export function isNotable(entry: SummaryFields): boolean {
  return entry.decision !== 'allowed' || entry.scanner?.flagged === true;
}

/** One offset is kept for every this many entries of a segment. */
export const SPARSE_STEP = 512;

export function emptySummary(segment: number, file: string): SegmentSummary {
  return {
    segment,
    file,
    bytes: 0,
    count: 0,
    first_seq: 0,
    last_seq: 0,
    first_prev: '',
    last_hash: '',
    min_ts: '',
    max_ts: '',
    first_recorded: '',
    last_recorded: '',
    kinds: {},
    decisions: {},
    flagged: 0,
    keyed: 0,
    days: {},
    categories: {},
    risk: {},
    offsets: [],
    notable: [],
  };
}

/** Flagged categories of an entry: those whose value is `true` or a positive number. */
export function flaggedCategories(entry: SummaryFields): string[] {
  const categories = entry.scanner?.categories;
  if (categories === undefined) return [];
  const out: string[] = [];
  for (const [name, value] of Object.entries(categories)) {
    if (value === true || (typeof value === 'number' && value > 0)) out.push(name);
  }
  return out;
}

/** Adds one entry, stored at byte `offset` with `lineBytes` bytes, to a summary (mutates it). */
export function addToSummary(summary: SegmentSummary, entry: SummaryFields, offset: number, lineBytes: number): void {
  if (summary.count === 0) {
    summary.first_seq = entry.seq;
    summary.first_prev = entry.prev;
    summary.min_ts = entry.ts;
    summary.max_ts = entry.ts;
    summary.first_recorded = entry.recorded_at;
  }
  if (summary.count % SPARSE_STEP === 0) summary.offsets.push(offset);
  summary.count++;
  summary.bytes = offset + lineBytes;
  summary.last_seq = entry.seq;
  summary.last_hash = entry.hash;
  summary.last_recorded = entry.recorded_at;
  if (entry.ts < summary.min_ts) summary.min_ts = entry.ts;
  if (entry.ts > summary.max_ts) summary.max_ts = entry.ts;
  summary.kinds[entry.kind] = (summary.kinds[entry.kind] ?? 0) + 1;
  summary.decisions[entry.decision] = (summary.decisions[entry.decision] ?? 0) + 1;
  if (entry.scanner?.flagged === true) summary.flagged++;
  if (entry.idempotency_key !== undefined) summary.keyed++;
  if (summary.notable !== undefined && summary.notable !== null && isNotable(entry)) {
    const listed = summary.notable.length / 2 + 1;
    if (listed > NOTABLE_MIN && listed * NOTABLE_SHARE > summary.count) summary.notable = null;
    else summary.notable.push(offset, lineBytes);
  }
  // Charts are about AI traffic: the store's own audit.* records stay out of the aggregates.
  if (entry.kind.startsWith('audit.')) return;
  const day = dayOf(entry.ts);
  const dayCounts = (summary.days[day] ??= {});
  dayCounts[entry.decision] = (dayCounts[entry.decision] ?? 0) + 1;
  // Most entries carry no categories: no array for them (verify adds a million entries).
  if (entry.scanner?.categories !== undefined) {
    for (const category of flaggedCategories(entry)) {
      summary.categories[category] = (summary.categories[category] ?? 0) + 1;
    }
  }
  if (entry.risk_score !== undefined) {
    const key = `${entry.model ?? ''}\u001f${entry.operation ?? ''}`;
    const cell = (summary.risk[key] ??= [0, 0]);
    cell[0] += entry.risk_score;
    cell[1] += 1;
  }
}

// The day of the previous entry's `ts`: entries come in time order, so most share it (verify adds a million).
let lastTs = '';
let lastDay = '';

/** {@link utcDay} of `ts`, without a new string when it is the previous entry's day. */
function dayOf(ts: string): string {
  if (ts === lastTs) return lastDay;
  // A UTC time's day is its first 10 characters: the same as the previous day's when it starts with them.
  if (!(lastDay.length === 10 && ts.endsWith('Z') && ts.startsWith(lastDay))) lastDay = utcDay(ts);
  lastTs = ts;
  return lastDay;
}

/** `YYYY-MM-DD` of an ISO time, in UTC. */
export function utcDay(iso: string): string {
  // Times with an offset are normalized first: `2026-01-01T00:30:00+02:00` is 2025-12-31 in UTC.
  if (iso.endsWith('Z')) return iso.slice(0, 10);
  return new Date(iso).toISOString().slice(0, 10);
}
