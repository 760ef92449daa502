import { existsSync } from 'node:fs';
import type { ParseArgsConfig } from 'node:util';
import { startDaemon } from '../daemonMain.ts';
import { tuneGcForDaemon } from '../gcTuning.ts';
import { openKeyStore } from '../keys/openKeyStore.ts';
import type { ContentMode } from '../protocol/entry.ts';
import { MAX_PAGE, StatsGroupBy, type KeyStatus, type VerifyReport } from '../protocol/messages.ts';
import { DaemonState } from '../state/daemonState.ts';
import { verifyStore } from '../store/chainVerifier.ts';
import { repairStore, RepairRefused } from '../store/storeRepair.ts';
import { acquireInstanceLock } from '../server/instanceLock.ts';
import { CliError, ExitCode } from './cliErrors.ts';
import { writeLine, type CliIo } from './cliIo.ts';
import { connectIfRunning, withDaemon } from './daemonConnection.ts';
import { runIngest } from './ingestCommand.ts';
import { FILTER_OPTIONS, filterFromFlags, positiveInt, str } from './cliFlags.ts';
import { verifyAgainst } from './verifyAgainst.ts';
import { queryFromExports } from './queryFromExport.ts';
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

/** `--expect SEQ:HASH`: a checkpoint kept elsewhere (a witness), e.g. from an export manifest. */
function expectFlag(value: string | boolean | undefined): { seq: number; hash: string } | undefined {
  const text = str(value);
  if (text === undefined) return undefined;
  const match = /^(\d+):([0-9a-f]{64})$/.exec(text);
  if (match === null || Number(match[1]) < 1) throw new CliError(ExitCode.Usage, `--expect takes SEQ:HASH (a seq and 64 lowercase hex digits), not ${JSON.stringify(text)}`);
  return { seq: Number(match[1]), hash: match[2] ?? '' };
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

export const commands: Record<string, CommandSpec> = {
  daemon: {
    options: { port: { type: 'string' } },
    async run({ home, values, io }) {
      const port = positiveInt(values.port, '--port') ?? 0;
      if (port > 65535) throw new CliError(ExitCode.Usage, '--port must be at most 65535');
      // A tuning knob (and how tests make segments rotate quickly); not a flag, as users rarely need it.
      const segmentMaxBytes = positiveInt(io.env.AI_AUDIT_SEGMENT_MAX_BYTES, 'AI_AUDIT_SEGMENT_MAX_BYTES');
      const checkpointEveryEntries = positiveInt(io.env.AI_AUDIT_CHECKPOINT_EVERY, 'AI_AUDIT_CHECKPOINT_EVERY');
      tuneGcForDaemon();
      const daemon = await startDaemon({
        home,
        port,
        env: io.env,
        echo: (line) => io.stderr.write(line),
        ...(segmentMaxBytes === undefined ? {} : { segmentMaxBytes }),
        ...(checkpointEveryEntries === undefined || checkpointEveryEntries === 0 ? {} : { checkpointEveryEntries }),
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
              ...(health.read_only === undefined ? [] : [`READ-ONLY: ${health.read_only.message}`]),
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
      // --from: exported entries (one or more export locations) instead of the local store.
      from: { type: 'string', multiple: true },
      endpoint: { type: 'string' },
      region: { type: 'string' },
      'path-style': { type: 'boolean' },
      profile: { type: 'string' },
      'credentials-ref': { type: 'string' },
    },
    async run({ home, values, io }) {
      const filter = filterFromFlags(values);
      const limit = positiveInt(values.limit, '--limit');
      if (limit !== undefined && values.all === true) throw new CliError(ExitCode.Usage, 'give --limit N or --all, not both');
      if (limit === 0) throw new CliError(ExitCode.Usage, '--limit must be at least 1');
      const wanted = values.all === true ? Number.POSITIVE_INFINITY : (limit ?? 100);
      const from = values.from as unknown as string[] | undefined;
      if (from !== undefined) {
        await queryFromExports(from, filter, wanted, values, io);
        return ExitCode.Ok;
      }
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
    options: {
      json: { type: 'boolean' },
      from: { type: 'string' },
      to: { type: 'string' },
      expect: { type: 'string' },
      // --against: an export (a witness) whose signed checkpoints the local chain must contain.
      against: { type: 'string' },
      endpoint: { type: 'string' },
      region: { type: 'string' },
      'path-style': { type: 'boolean' },
      profile: { type: 'string' },
      'credentials-ref': { type: 'string' },
      'public-key': { type: 'string' },
    },
    async run({ home, values, io }) {
      const from = positiveInt(values.from, '--from');
      const to = positiveInt(values.to, '--to');
      const expect = expectFlag(values.expect);
      const json = values.json === true;
      const against = str(values.against);
      // A running daemon verifies over its committed bytes (a batch being written is not a torn line).
      const client = await connectIfRunning(home);
      if (client !== null) {
        try {
          const params: { from_seq?: number; to_seq?: number } = {};
          if (from !== undefined) params.from_seq = from;
          if (to !== undefined) params.to_seq = to;
          if (expect !== undefined) (params as { expect?: typeof expect }).expect = expect;
          const code = printVerify(io, await client.request('verify', params), json);
          if (against === undefined) return code;
          return Math.max(code, await verifyAgainst(home, against, values, io, client)) as ExitCode;
        } finally {
          await client.dispose();
        }
      }
      if (!existsSync(home)) throw new CliError(ExitCode.Usage, `there is no audit store at ${home}`);
      const state = await DaemonState.open(home);
      const keys = await openKeyStore({ home, env: io.env, generation: state.keyGeneration }).load();
      const options: Parameters<typeof verifyStore>[1] = { publicKeys: keys.signingPublicKeys, summaryKeys: keys.hmacKeys };
      if (from !== undefined) options.fromSeq = from;
      if (to !== undefined) options.toSeq = to;
      if (expect !== undefined) options.expect = expect;
      const code = printVerify(io, await verifyStore(home, options), json);
      if (against === undefined) return code;
      return Math.max(code, await verifyAgainst(home, against, values, io, null)) as ExitCode;
    },
  },

  repair: {
    options: { json: { type: 'boolean' } },
    async run({ home, values, io }) {
      if (!existsSync(home)) throw new CliError(ExitCode.Usage, `there is no audit store at ${home}`);
      // The daemon must be stopped: only one writer, and a read-only daemon still holds the files open.
      const lock = await acquireInstanceLock(home).catch((error: unknown) => {
        throw new CliError(ExitCode.Usage, `stop the daemon first (${error instanceof Error ? error.message : String(error)})`);
      });
      try {
        const state = await DaemonState.open(home);
        const keys = await openKeyStore({ home, env: io.env, generation: state.keyGeneration }).load();
        const result = await repairStore(home, keys);
        if (values.json === true) writeLine(io.stdout, JSON.stringify(result));
        else writeLine(io.stdout, result.repaired ? `repaired: ${result.message}` : result.message);
        return ExitCode.Ok;
      } catch (error: unknown) {
        if (error instanceof RepairRefused) throw new CliError(ExitCode.Problem, error.message);
        throw error;
      } finally {
        await lock.dispose();
      }
    },
  },

  cleanup: {
    options: { 'older-than': { type: 'string' }, force: { type: 'boolean' } },
    async run({ home, values, io }) {
      const days = positiveInt(values['older-than'], '--older-than');
      return withDaemon(home, async (client) => {
        const params: { older_than_days?: number; force?: boolean } = {};
        if (days !== undefined) params.older_than_days = days;
        // Entries that a schedule has not exported yet are kept unless forced.
        if (values.force === true) params.force = true;
        const result = await client.request('retention.run', params);
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
