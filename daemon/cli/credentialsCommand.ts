import type { Readable } from 'node:stream';
import { KeychainDestinationSecrets, type DestinationSecret } from '../export/destinationSecrets.ts';
import { ExportDestinationError } from '../export/exportDestination.ts';
import { CliError, ExitCode } from './cliErrors.ts';
import type { CommandSpec } from './cliCommands.ts';
import { writeLine, type CliIo } from './cliIo.ts';

/** The fields of each kind, in the order they are read from stdin (one a line); `?` marks an optional one. */
const KINDS = {
  s3: ['access key id', 'secret access key', 'session token?'],
  'azure-key': ['storage account key'],
  'azure-sas': ['SAS token (without "?")'],
} as const;
type Kind = keyof typeof KINDS;

/** More than any secret of DestinationSecret; stops a wrong pipe (a file, /dev/zero) early. */
const MAX_INPUT = 16 * 1024;

/**
 * Reads the secret's lines: from a pipe or file as they come, from a terminal one prompt (on stderr) at a
 * time with echo off. Never from flags: argv is visible to every user of the machine (ps, /proc).
 */
async function readSecretLines(io: CliIo, fields: readonly string[]): Promise<string[]> {
  const stdin = io.stdin as Readable & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
  if (stdin.isTTY === true && typeof stdin.setRawMode === 'function') {
    const lines: string[] = [];
    for (const field of fields) {
      const optional = field.endsWith('?');
      io.stderr.write(`${optional ? field.slice(0, -1) + ' (Enter for none)' : field}: `);
      lines.push(await readHiddenLine(stdin as Readable & { setRawMode: (raw: boolean) => unknown }));
      io.stderr.write('\n');
    }
    return lines;
  }
  let text = '';
  for await (const chunk of stdin) {
    text += typeof chunk === 'string' ? chunk : (chunk as Buffer).toString('utf8');
    if (text.length > MAX_INPUT) throw new CliError(ExitCode.Usage, `stdin holds more than ${MAX_INPUT} bytes: give the secret's values one a line`);
  }
  return text.split(/\r?\n/).map((line) => line.trim());
}

/** One line from a terminal in raw mode, without echo; Ctrl-C or Ctrl-D with nothing typed abort. */
async function readHiddenLine(stdin: Readable & { setRawMode: (raw: boolean) => unknown }): Promise<string> {
  stdin.setRawMode(true);
  stdin.resume();
  try {
    return await new Promise<string>((resolve, reject) => {
      let line = '';
      const onData = (chunk: Buffer | string): void => {
        for (const char of typeof chunk === 'string' ? chunk : chunk.toString('utf8')) {
          if (char === '\r' || char === '\n') return done(() => resolve(line));
          if (char === '\u0003' || (char === '\u0004' && line === '')) return done(() => reject(new CliError(ExitCode.Usage, 'cancelled')));
          if (char === '\u007f' || char === '\b') line = line.slice(0, -1);
          else if (char >= ' ') line += char;
        }
      };
      const done = (settle: () => void): void => {
        stdin.off('data', onData);
        settle();
      };
      stdin.on('data', onData);
    });
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
  }
}

function secretFrom(kind: Kind, lines: readonly string[]): DestinationSecret {
  const fields = KINDS[kind];
  const required = fields.filter((f) => !f.endsWith('?')).length;
  const given = lines.slice(0, fields.length);
  const extra = lines.slice(fields.length).filter((line) => line !== '');
  if (given.slice(0, required).some((line) => line === undefined || line === '') || extra.length > 0) {
    throw new CliError(
      ExitCode.Usage,
      `--kind ${kind} reads ${fields.map((f) => (f.endsWith('?') ? `[${f.slice(0, -1)}]` : f)).join(', ')} from stdin, one a line`,
    );
  }
  if (kind === 's3') {
    const [accessKeyId = '', secretAccessKey = '', sessionToken = ''] = given;
    return { kind: 's3', access_key_id: accessKeyId, secret_access_key: secretAccessKey, ...(sessionToken !== '' ? { session_token: sessionToken } : {}) };
  }
  if (kind === 'azure-key') return { kind: 'azure_key', account_key: given[0] ?? '' };
  return { kind: 'azure_sas', sas: (given[0] ?? '').replace(/^\?/, '') };
}

/** Keychain errors say what to do and never quote the secret (destinationSecrets.ts); they end as usage/environment. */
async function keychain<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error: unknown) {
    if (error instanceof ExportDestinationError) throw new CliError(ExitCode.Usage, error.message);
    throw error;
  }
}

export const credentialsCommands: Record<string, CommandSpec> = {
  credentials: {
    options: { kind: { type: 'string' } },
    async run({ values, positionals, io }) {
      const [action, ref, ...rest] = positionals;
      if (rest.length > 0) {
        // A secret typed as an argument is already in the shell history and the process list: say so, not what it was.
        throw new CliError(ExitCode.Usage, 'unexpected arguments: secrets are read from stdin only, never from the command line');
      }
      const secrets = new KeychainDestinationSecrets();
      switch (action) {
        case 'set': {
          if (ref === undefined) throw new CliError(ExitCode.Usage, 'give the REF to store the credentials under');
          const kind = values.kind;
          if (typeof kind !== 'string' || !Object.hasOwn(KINDS, kind)) throw new CliError(ExitCode.Usage, '--kind is one of s3, azure-key, azure-sas');
          const secret = secretFrom(kind as Kind, await readSecretLines(io, KINDS[kind as Kind]));
          await keychain(() => secrets.store(ref, secret));
          writeLine(io.stdout, `stored ${kind} credentials under ${ref}; use them with --credentials-ref ${ref}`);
          return ExitCode.Ok;
        }
        case 'remove': {
          if (ref === undefined) throw new CliError(ExitCode.Usage, 'give the REF of the credentials');
          if (await keychain(() => secrets.remove(ref))) {
            writeLine(io.stdout, `removed ${ref}`);
            return ExitCode.Ok;
          }
          writeLine(io.stderr, `no credentials are stored under ${ref}`);
          return ExitCode.Problem;
        }
        default:
          throw new CliError(ExitCode.Usage, 'use `ai-audit credentials set REF --kind s3|azure-key|azure-sas` (values on stdin) or `credentials remove REF`');
      }
    },
  },
};
