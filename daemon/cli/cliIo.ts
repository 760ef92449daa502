import type { Readable, Writable } from 'node:stream';

/** The streams and environment a command runs with: the real process in use, buffers in tests. */
export interface CliIo {
  stdin: Readable;
  stdout: Writable;
  stderr: Writable;
  env: NodeJS.ProcessEnv;
  /** Resolves when the process is asked to stop (SIGINT/SIGTERM); used by `ai-audit daemon`. */
  stopSignal: Promise<string>;
}

export function writeLine(stream: Writable, text: string): void {
  stream.write(text.endsWith('\n') ? text : `${text}\n`);
}
