import type { Entry, JsonValue } from '../../daemon/protocol/entry.ts';
import type { EntryRow } from '../protocol/entryRow.ts';

/**
 * How entries read in the table and the detail panel. Every string here comes from the log and is
 * attacker-controlled: the view puts it in `textContent` only. On top of that, control characters that
 * change how text *looks* (bidi overrides, zero-width characters: "Trojan Source") are shown as visible
 * `⟨U+XXXX⟩` marks, and long values are cut for the table.
 */

/** Characters of one table cell before it is cut with an ellipsis. */
export const CELL_CHARS = 200;
/** Characters of one detail value before it is cut (the rest is reported, not shown). */
export const DETAIL_CHARS = 20_000;

// C0/C1 controls except tab and newline, the soft hyphen, bidi embeddings/overrides/isolates and marks,
// zero-width and invisible formatting characters, Hangul fillers, the BOM and interlinear annotations.
// Built from code points so that the source holds no invisible characters itself.
const INVISIBLE_RANGES: ReadonlyArray<readonly [number, number]> = [
  [0x00, 0x08], [0x0b, 0x1f], [0x7f, 0x9f], [0xad, 0xad], [0x61c, 0x61c], [0x115f, 0x1160], [0x17b4, 0x17b5],
  [0x180e, 0x180e], [0x200b, 0x200f], [0x202a, 0x202e], [0x2060, 0x2064], [0x2066, 0x206f], [0x3164, 0x3164],
  [0xfeff, 0xfeff], [0xffa0, 0xffa0], [0xfff9, 0xfffb],
];
const hex = (n: number) => `\\u${n.toString(16).padStart(4, '0')}`;
const INVISIBLE = new RegExp(`[${INVISIBLE_RANGES.map(([a, b]) => (a === b ? hex(a) : `${hex(a)}-${hex(b)}`)).join('')}]`, 'g');

/** Makes invisible and direction-changing characters visible. */
export function revealInvisible(text: string): string {
  return text.replace(INVISIBLE, (c) => `⟨U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}⟩`);
}

/** A log string fit for one line: invisible characters revealed, newlines as ⏎, cut to `max` characters. */
export function cellText(value: string | undefined, max = CELL_CHARS): string {
  if (value === undefined || value === '') return '';
  const short = value.length > max * 4 ? value.slice(0, max * 4) : value;
  const line = revealInvisible(short).replace(/\r?\n/g, ' ⏎ ');
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/** A log string for the detail panel: keeps newlines, reveals invisible characters, cut at `DETAIL_CHARS`. */
export function detailText(value: string): string {
  if (value.length <= DETAIL_CHARS) return revealInvisible(value);
  return `${revealInvisible(value.slice(0, DETAIL_CHARS))}… (${value.length - DETAIL_CHARS} more characters not shown)`;
}

/** `2026-11-22 14:03:07` in the viewer's local time (what a reviewer reads), from an ISO time. */
export function formatTime(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return cellText(iso);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${p(date.getMonth() + 1)}-${p(date.getDate())} ${p(date.getHours())}:${p(date.getMinutes())}:${p(date.getSeconds())}`;
}

/** `flagged · high (lakera)`, `clean · none (heuristic)`, `scan error (lakera)`, or '' when not scanned. */
export function verdictText(row: EntryRow): string {
  const parts: string[] = [];
  if (row.scan !== undefined) parts.push(row.scan);
  if (row.threat_level !== undefined) parts.push(row.threat_level);
  const text = parts.join(' · ');
  if (row.scanner !== undefined && text !== '') return `${text} (${row.scanner})`;
  return text;
}

export type Column = 'time' | 'seq' | 'kind' | 'decision' | 'verdict' | 'categories' | 'model' | 'user' | 'conversation' | 'file';

export const Columns: ReadonlyArray<{ id: Column; label: string; width: number }> = [
  { id: 'seq', label: '#', width: 64 },
  { id: 'time', label: 'Time', width: 140 },
  { id: 'kind', label: 'Kind', width: 100 },
  { id: 'decision', label: 'Decision', width: 72 },
  { id: 'verdict', label: 'Scanner verdict', width: 150 },
  { id: 'categories', label: 'Categories', width: 130 },
  { id: 'model', label: 'Model', width: 110 },
  { id: 'user', label: 'User', width: 90 },
  { id: 'conversation', label: 'Conversation', width: 110 },
  { id: 'file', label: 'File', width: 130 },
];

/** The text of one cell of a table row. */
export function cell(row: EntryRow, column: Column): string {
  switch (column) {
    case 'seq':
      return String(row.seq);
    case 'time':
      return formatTime(row.ts);
    case 'kind':
      return cellText(row.kind);
    case 'decision':
      return cellText(row.decision);
    case 'verdict':
      return cellText(verdictText(row));
    case 'categories':
      return cellText(row.categories);
    case 'model':
      return cellText(row.model);
    case 'user':
      return cellText(row.user);
    case 'conversation':
      return cellText(row.conversation);
    case 'file':
      return cellText(row.file);
  }
}

export interface DetailField {
  /** Dotted path, e.g. `scanner.categories.pii`. */
  path: string;
  value: string;
}

/**
 * Every field of an entry as path/value pairs, in the entry's own order, nested objects flattened
 * (`actor.user_id`), lists as JSON. Nothing is left out: a reviewer sees what the store holds.
 */
export function detailFields(entry: Entry): DetailField[] {
  const out: DetailField[] = [];
  const walk = (prefix: string, value: JsonValue | undefined): void => {
    if (value === undefined) return;
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      const keys = Object.keys(value);
      if (keys.length === 0) out.push({ path: prefix, value: '{}' });
      for (const key of keys) walk(prefix === '' ? key : `${prefix}.${key}`, value[key]);
      return;
    }
    out.push({ path: prefix, value: detailText(typeof value === 'string' ? value : JSON.stringify(value)) });
  };
  walk('', entry as unknown as JsonValue);
  return out.map((f) => ({ path: revealInvisible(f.path), value: f.value }));
}

/** The review verdicts in words. */
export const VerdictLabels: Record<string, string> = { ok: 'OK', false_positive: 'False positive', incident: 'Incident' };

/** One line about a review entry: `Incident — alice, 2026-11-22 14:03:07: note`. */
export function reviewLine(review: Entry): string {
  const audit = review.audit ?? {};
  const verdict = typeof audit.verdict === 'string' ? (VerdictLabels[audit.verdict] ?? audit.verdict) : '?';
  const reviewer = typeof audit.reviewer === 'string' ? audit.reviewer : '?';
  const note = typeof audit.note === 'string' && audit.note !== '' ? `: ${audit.note}` : '';
  return detailText(`${verdict} — ${reviewer}, ${formatTime(review.ts)} (#${review.seq})${note}`);
}
