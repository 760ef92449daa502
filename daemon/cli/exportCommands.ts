import { readFile } from 'node:fs/promises';
import type { ParseArgsConfig } from 'node:util';
import type { KeyObject } from 'node:crypto';
import { DestinationUrlError, parseDestinationUrl, type DestinationFlags } from '../export/destinationUrl.ts';
import { ExportDestinationError } from '../export/exportDestination.ts';
import { openDestination } from '../export/openDestination.ts';
import { publicKeysFromPem, verifyExport, type ExportVerifyReport } from '../export/verifyExport.ts';
import type { DestinationConfig } from '../protocol/destinations.ts';
import type { ExportRun, Schedule, ScheduleTiming } from '../protocol/exports.ts';
import type { ParamsOf } from '../protocol/messages.ts';
import type { DaemonClient } from '../client/daemonClient.ts';
import { CliError, ExitCode } from './cliErrors.ts';
import type { CommandInput, CommandSpec } from './cliCommands.ts';
import { withDaemon } from './daemonConnection.ts';
import { FILTER_OPTIONS, filterFromFlags, positiveInt, str } from './cliFlags.ts';
import { writeLine, type CliIo } from './cliIo.ts';

/** The destination flags every command that reaches a destination takes. */
const DESTINATION_OPTIONS: NonNullable<ParseArgsConfig['options']> = {
  to: { type: 'string' },
  endpoint: { type: 'string' },
  region: { type: 'string' },
  'path-style': { type: 'boolean' },
  profile: { type: 'string' },
  'credentials-ref': { type: 'string' },
};

const EXPORT_OPTIONS: NonNullable<ParseArgsConfig['options']> = {
  layout: { type: 'string' },
  gzip: { type: 'boolean' },
  prefix: { type: 'string' },
};

function destinationFlags(values: CommandInput['values']): DestinationFlags {
  return {
    endpoint: str(values.endpoint),
    region: str(values.region),
    pathStyle: values['path-style'] === true ? true : undefined,
    profile: str(values.profile),
    credentialsRef: str(values['credentials-ref']),
  };
}

/** A DestinationConfig from `--to URL` (or a positional location) and the destination flags. */
export function destinationFromFlags(location: string | undefined, values: CommandInput['values']): DestinationConfig {
  if (location === undefined) throw new CliError(ExitCode.Usage, 'give the destination: --to s3://BUCKET/PREFIX, gs://BUCKET/PREFIX, azure://ACCOUNT/CONTAINER/PREFIX or a folder');
  try {
    return parseDestinationUrl(location, destinationFlags(values));
  } catch (error: unknown) {
    if (error instanceof DestinationUrlError) throw new CliError(ExitCode.Usage, error.message);
    throw error;
  }
}

function layoutFlag(values: CommandInput['values']): 'hive' | 'lakera' | 'obot' | undefined {
  const layout = str(values.layout);
  if (layout === undefined) return undefined;
  if (layout !== 'hive' && layout !== 'lakera' && layout !== 'obot') throw new CliError(ExitCode.Usage, '--layout is one of hive, lakera, obot');
  return layout;
}

function printRun(io: CliIo, run: ExportRun, json: boolean): void {
  if (json) return writeLine(io.stdout, JSON.stringify(run));
  writeLine(
    io.stdout,
    `${run.status}: ${run.rows} rows in ${run.objects_total} objects (${run.bytes} bytes), seq ${run.seq_from}–${run.seq_to}, to ${run.location}` +
      `\nrun ${run.id}; manifests: ${run.manifests.join(', ') || '-'}`,
  );
}

/** Sends a long request with progress on stderr; Ctrl-C cancels the run in the daemon. */
async function withProgress<T>(client: DaemonClient, io: CliIo, work: () => Promise<T>): Promise<T> {
  let runId: string | null = null;
  // A counter that rewrites itself is for people; logs and pipes get nothing until the end.
  const tty = (io.stderr as { isTTY?: boolean }).isTTY === true;
  const listener = client.on('export.progress', (p) => {
    runId = p.run_id;
    if (tty) io.stderr.write(`\r${p.objects} objects, ${p.rows} rows, ${p.bytes} bytes`);
  });
  const stop = io.stopSignal.then(() => {
    if (runId !== null) void client.request('export.cancel', { run_id: runId }).catch(() => undefined);
  });
  void stop;
  try {
    return await work();
  } finally {
    listener.dispose();
    if (tty && runId !== null) io.stderr.write('\n');
  }
}

function timingFromFlags(values: CommandInput['values'], required: boolean): ScheduleTiming | undefined {
  const every = str(values.every);
  if (every === undefined) {
    if (required) throw new CliError(ExitCode.Usage, 'give --every hour|day|week|month');
    return undefined;
  }
  const at = str(values.at) ?? '00:00';
  if (every === 'hour') return { every: 'hour', minute: positiveInt(values.minute, '--minute') ?? 0 };
  if (every === 'day') return { every: 'day', time: at };
  const dayText = str(values.day);
  if (dayText === undefined) throw new CliError(ExitCode.Usage, `--every ${every} needs --day`);
  if (every === 'week') {
    const names = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
    const named = names.indexOf(dayText.slice(0, 3).toLowerCase());
    const day = named !== -1 ? named : Number(dayText);
    if (!Number.isInteger(day) || day < 0 || day > 6) throw new CliError(ExitCode.Usage, '--day of a weekly schedule is mon…sun or 0 (Sunday) to 6');
    return { every: 'week', day, time: at };
  }
  if (every === 'month') return { every: 'month', day: positiveInt(dayText, '--day') ?? 1, time: at };
  throw new CliError(ExitCode.Usage, '--every is one of hour, day, week, month');
}

function printSchedules(io: CliIo, schedules: Schedule[], json: boolean): void {
  if (json) return writeLine(io.stdout, JSON.stringify(schedules));
  if (schedules.length === 0) return writeLine(io.stdout, 'no schedules');
  for (const s of schedules) {
    const when = s.timing.every === 'hour' ? `hourly at :${String(s.timing.minute).padStart(2, '0')}` : `${s.timing.every}ly${'day' in s.timing ? ` on day ${s.timing.day}` : ''} at ${s.timing.time}`;
    writeLine(
      io.stdout,
      `${s.name}\t${s.enabled ? 'enabled' : 'disabled'}\t${when} ${s.time_zone}\t${s.layout}${s.gzip ? '+gzip' : ''}\twatermark ${s.watermark_seq}\tnext ${s.next_run_at ?? '-'}\tlast ${s.last_run?.status ?? '-'}`,
    );
  }
}

async function readPublicKeys(values: CommandInput['values']): Promise<KeyObject[] | undefined> {
  const file = str(values['public-key']);
  if (file === undefined) return undefined;
  const keys = publicKeysFromPem(await readFile(file, 'utf8'));
  if (keys.length === 0) throw new CliError(ExitCode.Usage, `${file} holds no PEM public key`);
  return keys;
}

/** Runs verify-export on a location (in this process, through the destination interface). */
export async function verifyLocation(location: string, values: CommandInput['values']): Promise<ExportVerifyReport> {
  const config = destinationFromFlags(location, values);
  const publicKeys = await readPublicKeys(values);
  let destination;
  try {
    destination = await openDestination(config);
  } catch (error: unknown) {
    if (error instanceof ExportDestinationError) throw new CliError(ExitCode.Usage, error.message);
    throw error;
  }
  try {
    return await verifyExport(destination, publicKeys === undefined ? {} : { publicKeys });
  } catch (error: unknown) {
    if (error instanceof ExportDestinationError) throw new CliError(error.code === 'not_found' ? ExitCode.Problem : ExitCode.Usage, error.message);
    throw error;
  } finally {
    await destination.dispose();
  }
}

export const exportCommands: Record<string, CommandSpec> = {
  export: {
    options: { ...DESTINATION_OPTIONS, ...EXPORT_OPTIONS, ...FILTER_OPTIONS, destination: { type: 'string' }, name: { type: 'string' }, json: { type: 'boolean' } },
    async run({ home, values, positionals, io }) {
      if (positionals.length > 0) throw new CliError(ExitCode.Usage, `unexpected ${positionals.join(' ')}: give the destination with --to`);
      const named = str(values.destination);
      if (named !== undefined && values.to !== undefined) throw new CliError(ExitCode.Usage, 'give --to or --destination, not both');
      const destination = named ?? destinationFromFlags(str(values.to), values);
      const params: ParamsOf<'export.run'> = { destination, filter: filterFromFlags(values), gzip: values.gzip === true };
      const layout = layoutFlag(values);
      if (layout !== undefined) params.layout = layout;
      const prefix = str(values.prefix);
      if (prefix !== undefined) params.prefix = prefix;
      const name = str(values.name);
      if (name !== undefined) params.name = name;
      return withDaemon(home, async (client) => {
        const run = await withProgress(client, io, () => client.request('export.run', params));
        printRun(io, run, values.json === true);
        return ExitCode.Ok;
      });
    },
  },

  destinations: {
    options: { ...DESTINATION_OPTIONS, json: { type: 'boolean' }, replace: { type: 'boolean' } },
    async run({ home, values, positionals, io }) {
      const [action, name, ...rest] = positionals;
      if (rest.length > 0) throw new CliError(ExitCode.Usage, `unexpected ${rest.join(' ')}`);
      return withDaemon(home, async (client) => {
        switch (action) {
          case 'list': {
            const { destinations } = await client.request('destinations.list', {});
            if (values.json === true) writeLine(io.stdout, JSON.stringify(destinations));
            else if (destinations.length === 0) writeLine(io.stdout, 'no destinations');
            else for (const d of destinations) writeLine(io.stdout, `${d.name}\t${d.config.type}\t${d.location}`);
            return ExitCode.Ok;
          }
          case 'add': {
            if (name === undefined) throw new CliError(ExitCode.Usage, 'give a NAME and --to LOCATION');
            const added = await client.request('destinations.add', { name, config: destinationFromFlags(str(values.to), values), ...(values.replace === true ? { replace: true } : {}) });
            writeLine(io.stdout, values.json === true ? JSON.stringify(added) : `added ${added.name}: ${added.location}`);
            return ExitCode.Ok;
          }
          case 'remove': {
            if (name === undefined) throw new CliError(ExitCode.Usage, 'give the NAME of a destination');
            await client.request('destinations.remove', { name });
            writeLine(io.stdout, `removed ${name}`);
            return ExitCode.Ok;
          }
          case 'test': {
            const target = name !== undefined ? { name } : { config: destinationFromFlags(str(values.to), values) };
            const probe = await client.request('destinations.test', target);
            if (values.json === true) writeLine(io.stdout, JSON.stringify(probe));
            else {
              const right = (v: boolean | null): string => (v === null ? 'not tried' : v ? 'yes' : 'no');
              writeLine(io.stdout, `${probe.location}\nwrite: ${right(probe.write)}\nread: ${right(probe.read)}\ndelete: ${right(probe.delete)}\n${probe.detail.join('\n')}`);
              if (probe.write && probe.read !== true) writeLine(io.stderr, 'write-only is a valid setup (verify-export and query --from then need other credentials that may read)');
            }
            return probe.write ? ExitCode.Ok : ExitCode.Problem;
          }
          default:
            throw new CliError(ExitCode.Usage, 'use `ai-audit destinations add|list|test|remove`');
        }
      });
    },
  },

  schedules: {
    options: {
      ...DESTINATION_OPTIONS,
      ...EXPORT_OPTIONS,
      ...FILTER_OPTIONS,
      destination: { type: 'string' },
      every: { type: 'string' },
      at: { type: 'string' },
      minute: { type: 'string' },
      day: { type: 'string' },
      'time-zone': { type: 'string' },
      disabled: { type: 'boolean' },
      json: { type: 'boolean' },
    },
    async run({ home, values, positionals, io }) {
      const [action, name, ...rest] = positionals;
      if (rest.length > 0) throw new CliError(ExitCode.Usage, `unexpected ${rest.join(' ')}`);
      if (action !== 'list' && name === undefined) throw new CliError(ExitCode.Usage, 'give the NAME of the schedule');
      const json = values.json === true;
      if (values.since !== undefined || values.until !== undefined) {
        throw new CliError(ExitCode.Usage, 'a schedule exports everything after its last run: --since and --until are for one-time exports');
      }
      const destination = (): ParamsOf<'schedules.add'>['destination'] | undefined => {
        const named = str(values.destination);
        if (named !== undefined) return named;
        return values.to === undefined ? undefined : destinationFromFlags(str(values.to), values);
      };
      return withDaemon(home, async (client) => {
        const target = name ?? '';
        switch (action) {
          case 'list':
            printSchedules(io, (await client.request('schedules.list', {})).schedules, json);
            return ExitCode.Ok;
          case 'add': {
            const dest = destination();
            if (dest === undefined) throw new CliError(ExitCode.Usage, 'give --destination NAME or --to LOCATION');
            const params: ParamsOf<'schedules.add'> = {
              name: target,
              destination: dest,
              timing: timingFromFlags(values, true) as ScheduleTiming,
              gzip: values.gzip === true,
              filter: filterFromFlags(values),
              enabled: values.disabled !== true,
            };
            const layout = layoutFlag(values);
            if (layout !== undefined) params.layout = layout;
            const prefix = str(values.prefix);
            if (prefix !== undefined) params.prefix = prefix;
            const zone = str(values['time-zone']);
            if (zone !== undefined) params.time_zone = zone;
            printSchedules(io, [await client.request('schedules.add', params)], json);
            return ExitCode.Ok;
          }
          case 'edit': {
            const params: ParamsOf<'schedules.edit'> = { name: target };
            const dest = destination();
            if (dest !== undefined) params.destination = dest;
            const timing = timingFromFlags(values, false);
            if (timing !== undefined) params.timing = timing;
            const layout = layoutFlag(values);
            if (layout !== undefined) params.layout = layout;
            const prefix = str(values.prefix);
            if (prefix !== undefined) params.prefix = prefix;
            const zone = str(values['time-zone']);
            if (zone !== undefined) params.time_zone = zone;
            if (values.gzip !== undefined) params.gzip = values.gzip === true;
            const filter = filterFromFlags(values);
            if (Object.keys(filter).length > 0) params.filter = filter;
            printSchedules(io, [await client.request('schedules.edit', params)], json);
            return ExitCode.Ok;
          }
          case 'enable':
          case 'disable':
            printSchedules(io, [await client.request(action === 'enable' ? 'schedules.enable' : 'schedules.disable', { name: target })], json);
            return ExitCode.Ok;
          case 'run': {
            const run = await withProgress(client, io, () => client.request('schedules.run', { name: target }));
            printRun(io, run, json);
            return ExitCode.Ok;
          }
          case 'remove':
            await client.request('schedules.remove', { name: target });
            writeLine(io.stdout, `removed ${target}`);
            return ExitCode.Ok;
          default:
            throw new CliError(ExitCode.Usage, 'use `ai-audit schedules add|list|edit|enable|disable|run|remove`');
        }
      });
    },
  },

  'verify-export': {
    options: { ...DESTINATION_OPTIONS, 'public-key': { type: 'string' }, json: { type: 'boolean' } },
    async run({ values, positionals, io }) {
      const location = positionals[0] ?? str(values.to);
      if (location === undefined || positionals.length > 1) throw new CliError(ExitCode.Usage, 'give one export location: a folder, s3://…, gs://… or azure://…');
      const report = await verifyLocation(location, values);
      if (values.json === true) {
        const { checkpoints: _checkpoints, manifest_sha256: _digests, ...rest } = report;
        writeLine(io.stdout, JSON.stringify(rest));
      } else {
        for (const problem of report.problems) writeLine(io.stdout, `${problem.code.toUpperCase()}: ${problem.message}`);
        const unsigned = report.unsigned_manifests;
        if (unsigned.length > 0) {
          writeLine(
            io.stdout,
            `warning: ${unsigned.length} manifests are not signed (written before manifests were signed, e.g. ${unsigned[0]}): ` +
              'an edit of the newest of them cannot be detected',
          );
        }
        if (report.ok) {
          writeLine(
            io.stdout,
            `ok: ${report.manifests} manifests, ${report.objects_checked} objects, ${report.rows_checked} rows; ` +
              report.chains.map((c) => `${c.chain} seq ${c.seq_from}–${c.seq_to}`).join(', '),
          );
        }
        if (report.keys_from_manifests) writeLine(io.stderr, 'note: signatures were checked with the public keys inside the manifests; pin the key with --public-key FILE (from `ai-audit keys status`)');
      }
      return report.ok ? ExitCode.Ok : ExitCode.Problem;
    },
  },
};
