import type { ExportLayout } from '../protocol/exports.ts';

/** Obot's default key prefix (obot-audit-log-exports.md). */
export const OBOT_DEFAULT_PREFIX = 'mcp-audit-logs';
/** Folder (under the export's prefix) that holds the manifests; Hive readers skip `_`-folders. */
export const MANIFEST_DIR = '_manifests';
export const MANIFEST_SUFFIX = '.manifest.json';

/** Seqs zero-padded so that key order is seq order. */
export const padSeq = (seq: number): string => String(seq).padStart(12, '0');

export interface LayoutOptions {
  layout: ExportLayout;
  /** Key prefix inside the destination; '' for none. */
  prefix: string;
  gzip: boolean;
  /** The export's name (obot file names). */
  name: string;
}

/** The prefix every key of an export starts with ('' or ending in '/'). */
export function basePrefix(options: Pick<LayoutOptions, 'layout' | 'prefix'>): string {
  const prefix = options.prefix === '' && options.layout === 'obot' ? OBOT_DEFAULT_PREFIX : options.prefix;
  const trimmed = prefix.replace(/\/+$/, '');
  return trimmed === '' ? '' : `${trimmed}/`;
}

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** The partition of an entry: the events' own time (`ts`, UTC), by day, or by hour for Lakera's layout. */
export function partitionOf(layout: ExportLayout, ts: string): string {
  // Stored times are almost always already in `toISOString()` form: slicing them skips a Date per row.
  const iso = ISO_UTC.test(ts) ? ts : new Date(ts).toISOString();
  return layout === 'lakera' ? iso.slice(0, 13) : iso.slice(0, 10);
}

/**
 * The key of one object: its partition's folder and a file name carrying the seq range of its rows, so
 * names never collide and a resumed run writes the same names. `firstTs` is the first row's `ts`.
 */
export function objectKey(options: LayoutOptions, partition: string, firstSeq: number, lastSeq: number, firstTs: string): string {
  const base = basePrefix(options);
  const range = `${padSeq(firstSeq)}-${padSeq(lastSeq)}`;
  const ext = options.gzip ? '.jsonl.gz' : '.jsonl';
  const [year, month, day] = partition.slice(0, 10).split('-');
  const first = new Date(firstTs).toISOString();
  switch (options.layout) {
    case 'hive':
      return `${base}year=${year}/month=${month}/day=${day}/${range}${ext}`;
    case 'lakera': {
      // Lakera's file name is the ISO time with its zone (`2026-12-01T10:15:03+00:00`), here the first row's.
      const hour = partition.slice(11, 13);
      return `${base}${year}/${month}/${day}/${hour}/${first.slice(0, 19)}+00:00_${range}${ext}`;
    }
    case 'obot':
      return `${base}${year}/${month}/${day}/${options.name}-${compactTime(first)}-${range}${ext}`;
  }
}

/** The manifest key of a chunk; an empty chunk (nothing new) is named by the run's start time. */
export function manifestKey(options: Pick<LayoutOptions, 'layout' | 'prefix'>, chain: string, seqFrom: number, seqTo: number, runStartedAt: string): string {
  const range = seqTo >= seqFrom ? `${padSeq(seqFrom)}-${padSeq(seqTo)}` : `${padSeq(seqFrom)}-empty-${compactTime(runStartedAt)}`;
  return `${basePrefix(options)}${MANIFEST_DIR}/${chain}/${range}${MANIFEST_SUFFIX}`;
}

/** `2026-12-01T10:15:03.123Z` → `20261201T101503Z`. */
export function compactTime(iso: string): string {
  return new Date(iso).toISOString().slice(0, 19).replace(/[-:]/g, '') + 'Z';
}
