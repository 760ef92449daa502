/** Exit codes of every `ai-audit` command (docs/cli.md). */
export const ExitCode = {
  Ok: 0,
  /** The check or operation found a problem: verify failed, some events were rejected, not running. */
  Problem: 1,
  /** Usage or environment: bad flags, no daemon, no keychain. */
  Usage: 2,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** An error that ends a command with a message on stderr and an exit code. */
export class CliError extends Error {
  readonly exitCode: ExitCode;
  constructor(exitCode: ExitCode, message: string) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}
