import type { ExportRun } from '../../daemon/protocol/exports.ts';

/**
 * A failed or cancelled run's error in one line, `<message> [<code>: <reason>]`: the reason (`store_damaged`,
 * `access_denied`, …) says what happened, `destination_error` alone does not. Null for a run without one.
 */
export function runErrorLine(run: Pick<ExportRun, 'error'>): string | null {
  const { error } = run;
  if (error === null) return null;
  return `${error.message} [${error.code}${error.reason === undefined ? '' : `: ${error.reason}`}]`;
}
