import { z } from 'zod';
import type { Entry } from '../../daemon/protocol/entry.ts';

/**
 * What the viewer's table shows of an entry: its columns and nothing else. The extension turns the
 * daemon's entries into rows before posting a page, so that a page crosses to the webview as a few
 * dozen kilobytes whatever the entries hold (prompts, metadata, 1 MB strings); the detail panel fetches
 * the whole entry when one is opened. Strings are cut to {@link ROW_CHARS}: enough for a table cell
 * (cut at 200 characters after invisible characters are revealed), no more.
 */

/** Longest string in a row, in UTF-16 code units. */
export const ROW_CHARS = 800;

const text = z.string().max(ROW_CHARS);

export const EntryRow = z.strictObject({
  seq: z.number().int().positive(),
  ts: z.string().max(64),
  kind: text,
  decision: z.string().max(32),
  /** `flagged`, `clean`, `scan error`, or absent when the entry was not scanned. */
  scan: z.enum(['flagged', 'clean', 'scan error']).optional(),
  scanner: text.optional(),
  threat_level: z.string().max(32).optional(),
  /** Detected categories, sorted, joined with `, `. */
  categories: text,
  model: text.optional(),
  user: text.optional(),
  conversation: text.optional(),
  /** The file's name, or the MCP server of an MCP call. */
  file: text.optional(),
});
export type EntryRow = z.infer<typeof EntryRow>;

const cut = (value: string): string => (value.length > ROW_CHARS ? value.slice(0, ROW_CHARS) : value);

/** Categories the scanner reported as detected (true or a positive count), sorted. */
function detectedCategories(entry: Pick<Entry, 'scanner'>): string[] {
  const categories = entry.scanner?.categories;
  if (categories === undefined) return [];
  return Object.entries(categories)
    .filter(([, v]) => v === true || (typeof v === 'number' && v > 0))
    .map(([k]) => k)
    .sort();
}

/** The table's row of an entry. */
export function entryRow(entry: Entry): EntryRow {
  const row: EntryRow = { seq: entry.seq, ts: entry.ts, kind: cut(entry.kind), decision: entry.decision, categories: cut(detectedCategories(entry).join(', ')) };
  const s = entry.scanner;
  if (s?.error !== undefined) row.scan = 'scan error';
  else if (s?.flagged !== undefined) row.scan = s.flagged ? 'flagged' : 'clean';
  if (s?.name !== undefined) row.scanner = cut(s.name);
  if (entry.threat_level !== undefined) row.threat_level = entry.threat_level;
  if (entry.model !== undefined) row.model = cut(entry.model);
  if (entry.actor?.user_id !== undefined) row.user = cut(entry.actor.user_id);
  if (entry.conversation_id !== undefined) row.conversation = cut(entry.conversation_id);
  const file = entry.content.file?.name ?? entry.mcp?.server;
  if (file !== undefined) row.file = cut(file);
  return row;
}
