import { AuditError, ErrorCodes, type ErrorCode } from '../../daemon/protocol/errors.ts';

/**
 * What to do next after a failed daemon call, by error code (never by message text). Every failure the
 * palette or the viewer shows ends with one of these.
 */
const ADVICE: Partial<Record<ErrorCode, string>> = {
  [ErrorCodes.Busy]: 'The daemon is busy writing; try again in a moment.',
  [ErrorCodes.DiskFull]: 'Free disk space in the data folder; reads keep working meanwhile.',
  [ErrorCodes.StorageError]: 'Check the data folder (permissions, disk) and run "AI Audit Trail: Show Daemon Log".',
  [ErrorCodes.KeychainUnavailable]: 'Unlock the OS keychain, or set AI_AUDIT_MASTER_KEY for the daemon, then run "AI Audit Trail: Restart Daemon".',
  [ErrorCodes.DecryptFailed]: 'The key of this entry is not in this machine\'s keychain: decrypt it where it was recorded, or restore the key.',
  [ErrorCodes.NotEncrypted]: 'Only entries stored in encrypted content mode can be decrypted; set the content mode to encrypted for new entries.',
  [ErrorCodes.NotFound]: 'The entry may have been removed by retention; refresh the view.',
  [ErrorCodes.BadCursor]: 'Retention removed the entries this view was paging through; refresh the view.',
  [ErrorCodes.ShuttingDown]: 'The daemon is restarting; try again in a few seconds.',
  [ErrorCodes.InvalidParams]: 'This is a bug in the extension; please report it with the daemon log.',
  [ErrorCodes.DaemonOutdated]: 'An upgrade replaced the files of the running daemon: run "AI Audit Trail: Restart Daemon" and try again.',
  [ErrorCodes.UnknownMethod]: 'The running daemon is older than the extension: run "AI Audit Trail: Restart Daemon".',
  [ErrorCodes.Internal]: 'Run "AI Audit Trail: Show Daemon Log" for the details.',
  [ErrorCodes.ReadOnly]: 'The daemon found its store damaged and only reads: run "AI Audit Trail: Verify Audit Log Integrity", then `ai-audit repair` (see the daemon log).',
  [ErrorCodes.Conflict]: 'That name is taken: pick another one, or edit the existing one.',
  [ErrorCodes.DestinationError]: 'Check the destination with "AI Audit Trail: Configure Export Destination…" (endpoint, bucket, keys) and its Test Connection, then try again.',
  [ErrorCodes.Cancelled]: 'The objects written before the cancel stay; run the export again to continue.',
  [ErrorCodes.ExportRunning]: 'This schedule is running already: wait for it ("Manage Export Schedules" shows its last run).',
};

/**
 * Destination reasons that are not about the destination: the local store lacks or holds a bad line of the
 * range, so checking the destination would not help; verify names what is wrong.
 */
const REASON_ADVICE: Record<string, string> = {
  store_damaged: 'A stored entry of the range is damaged: run "AI Audit Trail: Verify Audit Log Integrity"; nothing of it was exported.',
  store_gap: 'Entries of the range are missing from the store: run "AI Audit Trail: Verify Audit Log Integrity", then export again.',
};

export const NOT_CONNECTED =
  'The audit daemon is not reachable. Run "AI Audit Trail: Restart Daemon", or "AI Audit Trail: Show Daemon Log" to see why it stopped.';

/** `<what failed>: <why>. <what to do next>` */
export function describeFailure(what: string, error: unknown): string {
  if (error instanceof AuditError) {
    const reason = typeof error.data?.reason === 'string' ? error.data.reason : undefined;
    const advice = (reason === undefined ? undefined : REASON_ADVICE[reason]) ?? ADVICE[error.code] ?? 'Run "AI Audit Trail: Show Daemon Log" for the details.';
    return `${what}: ${error.message}${reason === undefined ? '' : ` (${reason})`}. ${advice}`;
  }
  const message = error instanceof Error ? error.message : String(error);
  return `${what}: ${message}. ${NOT_CONNECTED}`;
}
