import type { ParseArgsConfig } from 'node:util';
import type { EntryFilter } from '../protocol/messages.ts';
import { CliError, ExitCode } from './cliErrors.ts';

/** Parsed flag values of one command (node:util parseArgs). */
export type FlagValues = Record<string, string | boolean | undefined>;

export const str = (value: string | boolean | undefined): string | undefined => (typeof value === 'string' ? value : undefined);

export function positiveInt(value: string | boolean | undefined, flag: string): number | undefined {
  const text = str(value);
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text) || Number(text) < 0) throw new CliError(ExitCode.Usage, `${flag} takes a whole number, not ${JSON.stringify(text)}`);
  return Number(text);
}

export function isoFlag(value: string | boolean | undefined, flag: string): string | undefined {
  const text = str(value);
  if (text === undefined) return undefined;
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw new CliError(ExitCode.Usage, `${flag} takes an ISO 8601 time such as 2026-01-31T00:00:00Z, not ${JSON.stringify(text)}`);
  return new Date(ms).toISOString();
}

/** The query filters' flags, shared by `query`, `export` and `schedules`. */
export const FILTER_OPTIONS: NonNullable<ParseArgsConfig['options']> = {
  since: { type: 'string' },
  until: { type: 'string' },
  kind: { type: 'string', multiple: true },
  decision: { type: 'string', multiple: true },
  user: { type: 'string' },
  model: { type: 'string' },
  provider: { type: 'string' },
  session: { type: 'string' },
  project: { type: 'string' },
  customer: { type: 'string' },
  conversation: { type: 'string' },
  'mcp-server': { type: 'string' },
  flagged: { type: 'boolean' },
  text: { type: 'string' },
};

/** An EntryFilter from the filter flags (the daemon validates it). */
export function filterFromFlags(values: FlagValues): EntryFilter {
  const filter: Record<string, unknown> = {};
  const since = isoFlag(values.since, '--since');
  const until = isoFlag(values.until, '--until');
  if (since !== undefined) filter.since = since;
  if (until !== undefined) filter.until = until;
  for (const key of ['kind', 'decision'] as const) {
    const list = values[key] as unknown as string[] | undefined;
    if (list !== undefined) filter[key] = list.length === 1 ? list[0] : list;
  }
  for (const key of ['user', 'model', 'provider', 'session', 'project', 'customer', 'conversation', 'text'] as const) {
    const value = str(values[key]);
    if (value !== undefined) filter[key] = value;
  }
  const mcpServer = str(values['mcp-server']);
  if (mcpServer !== undefined) filter.mcp_server = mcpServer;
  if (values.flagged === true) filter.flagged = true;
  return filter as EntryFilter;
}

