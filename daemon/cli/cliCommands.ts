import { existsSync } from 'node:fs';
import type { ParseArgsConfig } from 'node:util';
import type { DaemonClient } from '../client/daemonClient.ts';
import { startDaemon } from '../daemonMain.ts';
import { openKeyStore } from '../keys/openKeyStore.ts';
import type { ContentMode } from '../protocol/entry.ts';
import { MAX_PAGE, StatsGroupBy, type EntryFilter, type KeyStatus, type VerifyReport } from '../protocol/messages.ts';
import { DaemonState } from '../state/daemonState.ts';
import { verifyStore } from '../store/chainVerifier.ts';
import { CliError, ExitCode } from './cliErrors.ts';
import { writeLine, type CliIo } from './cliIo.ts';
import { connectIfRunning, connectToDaemon } from './daemonConnection.ts';
import { runIngest } from './ingestCommand.ts';
import { formatStats } from './statsTable.ts';

export interface CommandInput {
  home: string;
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
  io: CliIo;
}

export interface CommandSpec {
  options: NonNullable<ParseArgsConfig['options']>;
  run(input: CommandInput): Promise<number>;
}

const str = (value: string | boolean | undefined): string | undefined => (typeof value === 'string' ? value : undefined);

function positiveInt(value: string | boolean | undefined, flag: string): number | undefined {
  const text = str(value);
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text) || Number(text) < 0) throw new CliError(ExitCode.Usage, `${flag} takes a whole number, not ${JSON.stringify(text)}`);
  return Number(text);
}

function isoFlag(value: string | boolean | undefined, flag: string): string | undefined {
  const text = str(value);
  if (text === undefined) return undefined;
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw new CliError(ExitCode.Usage, `${flag} takes an ISO 8601 time such as 2026-01-31T00:00:00Z, not ${JSON.stringify(text)}`);
  return new Date(ms).toISOString();
}

async function withDaemon<T>(home: string, work: (client: DaemonClient) => Promise<T>): Promise<T> {
  const client = await connectToDaemon(home);
  try {
    return await work(client);
  } finally {
    await client.dispose();
  }
}

function printVerify(io: CliIo, report: VerifyReport, json: boolean): number {
  if (json) writeLine(io.stdout, JSON.stringify(report));
  else if (report.ok) {
    writeLine(
      io.stdout,
      `ok: ${report.entries_checked} entries in ${report.segments_checked} segments, ${report.checkpoints_checked} signed checkpoints` +
        (report.last_seq === null ? '' : `, last seq ${report.last_seq}`),
    );
    if (report.unsigned_tail > 0) {
      writeLine(io.stderr, `note: the newest ${report.unsigned_tail} entries are not yet covered by a signed checkpoint`);
    }
  } else {
    const p = report.problem;
    writeLine(io.stdout, `FAILED at seq ${p?.seq ?? '?'} in ${p?.segment ?? '?'}: ${p?.reason ?? 'unknown'} [${p?.code ?? '?'}]`);
  }
  return report.ok ? ExitCode.Ok : ExitCode.Problem;
}

function printKeys(io: CliIo, status: KeyStatus, json: boolean): void {
  if (json) return writeLine(io.stdout, JSON.stringify(status));
  writeLine(
    io.stdout,
    [
      `source:          ${status.source}`,
      `hmac key:        ${status.hmac_key_id}`,
      `encryption key:  ${status.encryption_key_id} (all: ${status.encryption_key_ids.join(', ')})`,
      `signing key:     ${status.signing_key_id}`,
      status.signing_public_key.trim(),
    ].join('\n'),
  );
}

/** The filter flags of `query` and `stats`. */
const FILTER_OPTIONS: NonNullable<ParseArgsConfig['options']> = {
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

/** An `EntryFilter` from the filter flags (the daemon validates it again). */
function filterFromFlags(values: CommandInput['values']): EntryFilter {
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

export const commands: Record<string, CommandSpec> = {
  daemon: {
    options: { port: { type: 'string' } },
    async run({ home, values, io }) {
      const port = positiveInt(values.port, '--port') ?? 0;
      if (port > 65535) throw new CliError(ExitCode.Usage, '--port must be at most 65535');
      // A tuning knob (and how tests make segments rotate quickly); not a flag, as users rarely need it.
      const segmentMaxBytes = positiveInt(io.env.AI_AUDIT_SEGMENT_MAX_BYTES, 'AI_AUDIT_SEGMENT_MAX_BYTES');
      const daemon = await startDaemon({
        home,
        port,
        env: io.env,
        echo: (line) => io.stderr.write(line),
        ...(segmentMaxBytes === undefined ? {} : { segmentMaxBytes }),
      });
      const signal = await io.stopSignal;
      daemon.log(`stopping (${signal})`);
      await daemon.dispose();
      return ExitCode.Ok;
    },
  },

  status: {
    options: { json: { type: 'boolean' } },
    async run({ home, values, io }) {
      const client = await connectIfRunning(home);
      if (client === null) {
        if (values.json === true) writeLine(io.stdout, JSON.stringify({ running: false, home }));
        else writeLine(io.stdout, `not running (${home})`);
        return ExitCode.Problem;
      }
      try {
        const health = await client.request('health', {});
        if (values.json === true) writeLine(io.stdout, JSON.stringify({ running: true, home, ...health }));
        else {
          writeLine(
            io.stdout,
            [
              `running: pid ${health.pid}, version ${health.version}, up ${health.uptime_s}s (${home})`,
              `entries: ${health.entries} in ${health.segments} segments, seq ${health.first_seq ?? '-'}..${health.last_seq}, ${health.store_bytes} bytes`,
              `content mode: ${health.settings.content_mode}, retention: ${health.settings.retention_days} days, keys: ${health.key_source}`,
              health.disk_full ? 'DISK FULL: ingest paused' : `queue: ${health.queue_depth}`,
            ].join('\n'),
          );
        }
        return ExitCode.Ok;
      } finally {
        await client.dispose();
      }
    },
  },

  ingest: {
    options: {},
    async run({ home, positionals, io }) {
      const source = positionals[0];
      if (source === undefined || positionals.length > 1) throw new CliError(ExitCode.Usage, 'give one FILE of JSONL events, or - for standard input');
      return withDaemon(home, (client) => runIngest(client, source, io));
    },
  },

  query: {
    options: {
      ...FILTER_OPTIONS,
      limit: { type: 'string' },
      all: { type: 'boolean' },
    },
    async run({ home, values, io }) {
      const filter = filterFromFlags(values);
      const limit = positiveInt(values.limit, '--limit');
      if (limit !== undefined && values.all === true) throw new CliError(ExitCode.Usage, 'give --limit N or --all, not both');
      if (limit === 0) throw new CliError(ExitCode.Usage, '--limit must be at least 1');
      const wanted = values.all === true ? Number.POSITIVE_INFINITY : (limit ?? 100);
      return withDaemon(home, async (client) => {
        let printed = 0;
        let cursor: string | undefined;
        while (printed < wanted) {
          const page = await client.request('query', {
            filter,
            limit: Math.min(MAX_PAGE, wanted - printed),
            ...(cursor === undefined ? {} : { cursor }),
          });
          for (const entry of page.entries) writeLine(io.stdout, JSON.stringify(entry));
          printed += page.entries.length;
          if (page.next_cursor === null || page.entries.length === 0) break;
          cursor = page.next_cursor;
        }
        return ExitCode.Ok;
      });
    },
  },

  stats: {
    options: { ...FILTER_OPTIONS, by: { type: 'string' }, top: { type: 'string' }, json: { type: 'boolean' } },
    async run({ home, values, io }) {
      const filter = filterFromFlags(values);
      const byText = str(values.by);
      const by = byText === undefined ? undefined : StatsGroupBy.safeParse(byText);
      if (by !== undefined && !by.success) throw new CliError(ExitCode.Usage, `--by is one of ${StatsGroupBy.options.join(', ')}`);
      const top = positiveInt(values.top, '--top');
      if (top !== undefined && (top < 1 || top > 100)) throw new CliError(ExitCode.Usage, '--top is from 1 to 100');
      return withDaemon(home, async (client) => {
        const stats = await client.request('stats', { filter, ...(top === undefined ? {} : { top }), ...(by === undefined ? {} : { by: by.data }) });
        if (values.json === true) writeLine(io.stdout, JSON.stringify(stats));
        else writeLine(io.stdout, formatStats(stats, by?.data));
        return ExitCode.Ok;
      });
    },
  },

  verify: {
    options: { json: { type: 'boolean' }, from: { type: 'string' }, to: { type: 'string' } },
    async run({ home, values, io }) {
      const from = positiveInt(values.from, '--from');
      const to = positiveInt(values.to, '--to');
      const json = values.json === true;
      // A running daemon verifies over its committed bytes (a batch being written is not a torn line).
      const client = await connectIfRunning(home);
      if (client !== null) {
        try {
          const params: { from_seq?: number; to_seq?: number } = {};
          if (from !== undefined) params.from_seq = from;
          if (to !== undefined) params.to_seq = to;
          return printVerify(io, await client.request('verify', params), json);
        } finally {
          await client.dispose();
        }
      }
      if (!existsSync(home)) throw new CliError(ExitCode.Usage, `there is no audit store at ${home}`);
      const state = await DaemonState.open(home);
      const keys = await openKeyStore({ home, env: io.env, generation: state.keyGeneration }).load();
      const options: Parameters<typeof verifyStore>[1] = { publicKeys: keys.signingPublicKeys };
      if (from !== undefined) options.fromSeq = from;
      if (to !== undefined) options.toSeq = to;
      return printVerify(io, await verifyStore(home, options), json);
    },
  },

  cleanup: {
    options: { 'older-than': { type: 'string' } },
    async run({ home, values, io }) {
      const days = positiveInt(values['older-than'], '--older-than');
      return withDaemon(home, async (client) => {
        const result = await client.request('retention.run', days === undefined ? {} : { older_than_days: days });
        writeLine(io.stdout, JSON.stringify(result));
        return ExitCode.Ok;
      });
    },
  },

  keys: {
    options: { json: { type: 'boolean' } },
    async run({ home, values, positionals, io }) {
      const action = positionals[0];
      if ((action !== 'status' && action !== 'rotate') || positionals.length > 1) {
        throw new CliError(ExitCode.Usage, 'use `ai-audit keys status` or `ai-audit keys rotate`');
      }
      return withDaemon(home, async (client) => {
        printKeys(io, await client.request(action === 'status' ? 'keys.status' : 'keys.rotate', {}), values.json === true);
        return ExitCode.Ok;
      });
    },
  },

  decrypt: {
    options: { reason: { type: 'string' } },
    async run({ home, values, positionals, io }) {
      const target = positionals[0];
      if (target === undefined || positionals.length > 1) throw new CliError(ExitCode.Usage, 'give the SEQ or ID of one entry');
      const reason = str(values.reason);
      const params = /^\d+$/.test(target) ? { seq: Number(target) } : { id: target };
      return withDaemon(home, async (client) => {
        const result = await client.request('decrypt', reason === undefined ? params : { ...params, reason });
        writeLine(io.stdout, JSON.stringify(result));
        return ExitCode.Ok;
      });
    },
  },

  settings: {
    options: { 'content-mode': { type: 'string' }, 'retention-days': { type: 'string' } },
    async run({ home, values, io }) {
      const mode = str(values['content-mode']);
      if (mode !== undefined && !['hash', 'encrypted', 'none'].includes(mode)) {
        throw new CliError(ExitCode.Usage, '--content-mode is one of hash, encrypted, none');
      }
      const days = positiveInt(values['retention-days'], '--retention-days');
      return withDaemon(home, async (client) => {
        const change: { content_mode?: ContentMode; retention_days?: number } = {};
        if (mode !== undefined) change.content_mode = mode as ContentMode;
        if (days !== undefined) change.retention_days = days;
        const settings = Object.keys(change).length === 0 ? await client.request('settings.get', {}) : await client.request('settings.set', change);
        writeLine(io.stdout, JSON.stringify(settings));
        return ExitCode.Ok;
      });
    },
  },
};
