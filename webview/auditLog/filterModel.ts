import { Decision, EntryKind, ThreatLevel } from '../../daemon/protocol/entry.ts';
import type { EntryFilter } from '../../daemon/protocol/messages.ts';

/**
 * The viewer's filter set: a time preset (or a custom range) plus the daemon's `EntryFilter` fields.
 * Pure functions, so the same code builds the query, the chips shown above the table and the state
 * saved across reloads.
 */

export const TimePresets = {
  '1h': { label: 'Last hour', ms: 3_600_000 },
  '24h': { label: 'Last 24 hours', ms: 86_400_000 },
  '7d': { label: 'Last 7 days', ms: 7 * 86_400_000 },
  '30d': { label: 'Last 30 days', ms: 30 * 86_400_000 },
  '90d': { label: 'Last 90 days', ms: 90 * 86_400_000 },
  all: { label: 'All time', ms: null },
  custom: { label: 'Custom range', ms: null },
} as const;
export type TimePreset = keyof typeof TimePresets;

export function isTimePreset(value: string): value is TimePreset {
  return Object.hasOwn(TimePresets, value);
}

/** The text fields a user types, in the order the filter bar shows them. */
export const TextFields = ['provider', 'model', 'user', 'session', 'project', 'conversation', 'mcp_server', 'text'] as const;
export type TextField = (typeof TextFields)[number];

export const TextFieldLabels: Record<TextField, string> = {
  provider: 'Provider',
  model: 'Model',
  user: 'User',
  session: 'Session',
  project: 'Project',
  conversation: 'Conversation',
  mcp_server: 'MCP server',
  text: 'Text in metadata',
};

export interface FilterForm {
  preset: TimePreset;
  /** Custom range bounds as ISO times (only with preset `custom`); empty = open. */
  since: string;
  until: string;
  kind: string[];
  decision: string[];
  threatLevel: string[];
  /** '' = any, 'yes', 'no'. */
  flagged: '' | 'yes' | 'no';
  text: Partial<Record<TextField, string>>;
}

export function emptyForm(): FilterForm {
  return { preset: 'all', since: '', until: '', kind: [], decision: [], threatLevel: [], flagged: '', text: {} };
}

function oneOrMany<T extends string>(values: readonly T[]): T | T[] | undefined {
  if (values.length === 0) return undefined;
  return values.length === 1 ? values[0] : [...values];
}

function validIso(value: string): string | undefined {
  const trimmed = value.trim();
  if (trimmed === '') return undefined;
  const ms = Date.parse(trimmed);
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

/** The daemon filter for a form, with presets resolved against `nowMs`. */
export function toEntryFilter(form: FilterForm, nowMs: number): EntryFilter {
  const filter: EntryFilter = {};
  const preset = TimePresets[form.preset];
  if (preset.ms !== null) filter.since = new Date(nowMs - preset.ms).toISOString();
  if (form.preset === 'custom') {
    const since = validIso(form.since);
    const until = validIso(form.until);
    if (since !== undefined) filter.since = since;
    if (until !== undefined) filter.until = until;
  }
  // The form's lists come from the filter bar's fixed options; the daemon's schema checks them again.
  const kind = oneOrMany(form.kind.filter((k) => EntryKind.safeParse(k).success) as EntryKind[]);
  if (kind !== undefined) filter.kind = kind;
  const decision = oneOrMany(form.decision.filter((d) => Decision.safeParse(d).success) as Decision[]);
  if (decision !== undefined) filter.decision = decision;
  const level = oneOrMany(form.threatLevel.filter((l) => ThreatLevel.safeParse(l).success) as ThreatLevel[]);
  if (level !== undefined) filter.threat_level = level;
  if (form.flagged !== '') filter.flagged = form.flagged === 'yes';
  for (const field of TextFields) {
    const value = form.text[field]?.trim();
    if (value !== undefined && value !== '') filter[field] = value.slice(0, 512);
  }
  return filter;
}

const asList = <T>(value: T | T[] | undefined): T[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

/** A form from a saved filter (the preset is saved beside it: a filter alone has absolute times). */
export function fromEntryFilter(filter: EntryFilter, preset: string): FilterForm {
  const form = emptyForm();
  form.preset = isTimePreset(preset) ? preset : filter.since !== undefined || filter.until !== undefined ? 'custom' : 'all';
  if (form.preset === 'custom') {
    form.since = filter.since ?? '';
    form.until = filter.until ?? '';
  }
  form.kind = asList(filter.kind);
  form.decision = asList(filter.decision);
  form.threatLevel = asList(filter.threat_level);
  form.flagged = filter.flagged === undefined ? '' : filter.flagged ? 'yes' : 'no';
  for (const field of TextFields) {
    const value = filter[field];
    if (value !== undefined) form.text[field] = value;
  }
  return form;
}

/** One chip per restriction, e.g. `decision: blocked, warned`, for the line above the table. */
export function describeFilter(form: FilterForm): string[] {
  const chips: string[] = [];
  if (form.preset !== 'all' && form.preset !== 'custom') chips.push(TimePresets[form.preset].label);
  if (form.preset === 'custom') chips.push(`time: ${form.since.trim() || '…'} → ${form.until.trim() || 'now'}`);
  if (form.kind.length > 0) chips.push(`kind: ${form.kind.join(', ')}`);
  if (form.decision.length > 0) chips.push(`decision: ${form.decision.join(', ')}`);
  if (form.threatLevel.length > 0) chips.push(`threat: ${form.threatLevel.join(', ')}`);
  if (form.flagged !== '') chips.push(form.flagged === 'yes' ? 'flagged' : 'not flagged');
  for (const field of TextFields) {
    const value = form.text[field]?.trim();
    if (value !== undefined && value !== '') chips.push(`${TextFieldLabels[field].toLowerCase()}: ${value}`);
  }
  return chips;
}
