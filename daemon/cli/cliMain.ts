import { parseArgs, type ParseArgsConfig } from 'node:util';
import { AuditError, ErrorCodes } from '../protocol/errors.ts';
import { resolveDataDir } from '../client/dataDirLocation.ts';
import { CliError, ExitCode } from './cliErrors.ts';
import type { CliIo } from './cliIo.ts';
import { commands, type CommandSpec } from './cliCommands.ts';
import { exportCommands } from './exportCommands.ts';
import { credentialsCommands } from './credentialsCommand.ts';
import { DAEMON_VERSION } from '../version.ts';

const USAGE = `Usage: ai-audit <command> [options]
       ai-audit --version

Commands:
  daemon [--port N]                 run the audit daemon in the foreground
  status [--json]                   is the daemon running; its health
  ingest FILE|-                     send JSONL events; prints one ack (or error) per line
  query [filters] [--limit N|--all] [--from LOCATION ...]
                                    matching entries as JSONL, newest first (--from: read
                                    exported entries instead, several locations allowed)
        filters: --since ISO --until ISO --kind K --decision D --user U --model M
                 --provider P --session S --project P --customer C --conversation C
                 --mcp-server S --flagged --text T
  stats [filters] [--by day|model|operation|category|customer|user] [--top N] [--json]
                                    decisions per day, top categories, mean risk by model
                                    and operation (default: the last 30 days); --by groups
  verify [--json] [--from SEQ] [--to SEQ] [--expect SEQ:HASH] [--against LOCATION]
                                    check the hash chain and signed checkpoints
                                    (--expect: against a checkpoint kept elsewhere;
                                    --against: the local chain holds every checkpoint of an export)
  repair [--json]                   (daemon stopped) set damaged bytes at the end of the
                                    chain aside in damaged/ and record it, signed
  cleanup [--older-than DAYS] [--force]
                                    drop segments past the retention period (--force: even
                                    entries that a schedule has not exported yet)
  export --to LOCATION | --destination NAME [--layout hive|lakera|obot] [--gzip]
         [--prefix P] [--name N] [--since ISO] [--until ISO] [filters]
                                    export once; LOCATION is s3://BUCKET/PREFIX, gs://BUCKET/PREFIX,
                                    azure://ACCOUNT/CONTAINER/PREFIX or a folder
  destinations add NAME --to LOCATION | list | test NAME|--to LOCATION | remove NAME
  schedules add NAME --to LOCATION|--destination NAME --every hour|day|week|month
         [--at HH:MM] [--minute M] [--day D] [--time-zone TZ] [--layout L] [--gzip] [filters]
  schedules list | edit NAME [...] | enable NAME | disable NAME | run NAME | remove NAME
  verify-export LOCATION [--public-key FILE] [--json]
                                    check an export against its manifests (0 intact, 1 problems)
        destination flags: --endpoint URL --region R --path-style --profile P --credentials-ref REF
  credentials set REF --kind s3|azure-key|azure-sas | remove REF
                                    store explicit destination keys in the OS keychain; the values
                                    are read from stdin, one a line (s3: access key id, secret,
                                    optional session token), never from flags
  keys status|rotate [--json]       key ids and public key; make new keys
  decrypt SEQ|ID [--reason TEXT]    show the content of an encrypted entry (recorded)
  settings [--content-mode M] [--retention-days N]
                                    show or change the daemon's settings (changes are recorded)

Every command takes --home DIR (default: $AI_AUDIT_HOME, else the platform's data folder).
Exit codes: 0 success, 1 a problem was found, 2 usage or environment error.`;

/** Runs one CLI invocation and returns its exit code. The only caller of process.exit is the bin. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(`${USAGE}\n`);
    return name === undefined ? ExitCode.Usage : ExitCode.Ok;
  }
  if (name === '--version' || name === '-V') {
    io.stdout.write(`${DAEMON_VERSION}\n`);
    return ExitCode.Ok;
  }
  const all: Record<string, CommandSpec> = { ...commands, ...exportCommands, ...credentialsCommands };
  const spec: CommandSpec | undefined = Object.hasOwn(all, name) ? all[name] : undefined;
  if (spec === undefined) {
    io.stderr.write(`ai-audit: unknown command ${JSON.stringify(name)}\n\n${USAGE}\n`);
    return ExitCode.Usage;
  }
  let parsed: { values: Record<string, string | boolean | undefined>; positionals: string[] };
  try {
    const config: ParseArgsConfig = {
      args: [...rest],
      options: { home: { type: 'string' }, help: { type: 'boolean', short: 'h' }, ...spec.options },
      allowPositionals: true,
      strict: true,
    };
    parsed = parseArgs(config) as typeof parsed;
  } catch (error: unknown) {
    io.stderr.write(`ai-audit ${name}: ${error instanceof Error ? error.message : String(error)}\n`);
    return ExitCode.Usage;
  }
  if (parsed.values.help === true) {
    io.stdout.write(`${USAGE}\n`);
    return ExitCode.Ok;
  }
  const home = resolveDataDir(typeof parsed.values.home === 'string' ? parsed.values.home : undefined, io.env);
  try {
    return await spec.run({ home, values: parsed.values, positionals: parsed.positionals, io });
  } catch (error: unknown) {
    if (error instanceof CliError) {
      io.stderr.write(`ai-audit ${name}: ${error.message}\n`);
      return error.exitCode;
    }
    if (error instanceof AuditError) {
      // The reason says what happened (`store_damaged`, `access_denied`, `signed_range_damaged`, …); the code alone does not.
      const reason = typeof error.data?.reason === 'string' ? `: ${error.data.reason}` : '';
      io.stderr.write(`ai-audit ${name}: ${error.message} [${error.code}${reason}]\n`);
      const environment: string[] = [ErrorCodes.KeychainUnavailable, ErrorCodes.ShuttingDown];
      return environment.includes(error.code) || (error.data?.reason === 'already_running') ? ExitCode.Usage : ExitCode.Problem;
    }
    io.stderr.write(`ai-audit ${name}: ${error instanceof Error ? error.message : String(error)}\n`);
    return ExitCode.Usage;
  }
}
