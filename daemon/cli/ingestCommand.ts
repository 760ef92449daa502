import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { DaemonClient } from '../client/daemonClient.ts';
import { ErrorCodes } from '../protocol/errors.ts';
import type { IngestAck, IngestRejected } from '../protocol/messages.ts';
import { CliError, ExitCode } from './cliErrors.ts';
import { writeLine, type CliIo } from './cliIo.ts';

/** Events per ingest request: large enough for throughput, small enough to keep memory flat. */
const BATCH = 1000;

/**
 * `ai-audit ingest FILE|-`: one output line per input line, in order: the ack `{"seq","id"}` (plus
 * `"duplicate":true` for a resent idempotency key) or `{"line":N,"error":{code,message}}`. Blank lines
 * are skipped. Exit 1 when any line was rejected; the others are stored all the same.
 */
export async function runIngest(client: DaemonClient, source: string, io: CliIo): Promise<number> {
  const input = source === '-' ? io.stdin : createReadStream(source);
  const opened = new Promise<void>((resolve, reject) => {
    if (source === '-') return resolve();
    input.once('open', () => resolve());
    input.once('error', (error: NodeJS.ErrnoException) =>
      reject(new CliError(ExitCode.Usage, error.code === 'ENOENT' ? `no such file: ${source}` : `cannot read ${source}: ${error.message}`)),
    );
  });
  await opened;
  const lines = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
  let failed = 0;
  let batch: Array<{ line: number; event: unknown }> = [];

  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const sending = batch;
    batch = [];
    const { acks } = await client.request('ingest', { events: sending.map((b) => b.event) });
    acks.forEach((ack: IngestAck | IngestRejected, i) => {
      const line = sending[i]?.line ?? 0;
      if ('error' in ack) {
        failed++;
        writeLine(io.stdout, JSON.stringify({ line, error: { code: ack.error.code, message: ack.error.message } }));
      } else {
        writeLine(io.stdout, JSON.stringify(ack));
      }
    });
  };

  let number = 0;
  for await (const text of lines) {
    number++;
    if (text.trim() === '') continue;
    let event: unknown;
    try {
      event = JSON.parse(text);
    } catch {
      // Keep output in input order: send what came before, then report this line.
      await flush();
      failed++;
      writeLine(io.stdout, JSON.stringify({ line: number, error: { code: ErrorCodes.BadJson, message: 'not valid JSON' } }));
      continue;
    }
    batch.push({ line: number, event });
    if (batch.length >= BATCH) await flush();
  }
  await flush();
  return failed > 0 ? ExitCode.Problem : ExitCode.Ok;
}
