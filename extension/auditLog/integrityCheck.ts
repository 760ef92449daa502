import * as vscode from 'vscode';
import type { DaemonClient } from '../../daemon/client/daemonClient.ts';
import type { VerifyReport } from '../../daemon/protocol/messages.ts';
import type { VerifyOutcome } from '../../webview/protocol/auditLogMessages.ts';

/** The viewer's summary of a verify report. */
export function outcomeOf(report: VerifyReport): VerifyOutcome {
  return {
    ok: report.ok,
    entriesChecked: report.entries_checked,
    lastSeq: report.last_seq,
    unsignedTail: report.unsigned_tail,
    brokenSeq: report.problem?.seq ?? null,
    problem: report.problem === null ? null : `${report.problem.reason} (${report.problem.code}${report.problem.segment === null ? '' : `, ${report.problem.segment}`})`,
  };
}

/**
 * Verifies the whole chain with a progress notification (the daemon's `verify.progress`), passing each
 * progress step to `onProgress` too (the viewer shows it in its banner).
 */
export async function verifyWithProgress(client: DaemonClient, onProgress?: (checked: number, lastSeq: number) => void): Promise<VerifyOutcome> {
  return vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: 'Verifying the audit log', cancellable: false },
    async (progress) => {
      let reported = 0;
      const sub = client.on('verify.progress', ({ entries_checked, last_seq }) => {
        progress.report({ message: `${entries_checked} entries checked (at #${last_seq})` });
        if (entries_checked - reported >= 1000 || reported === 0) {
          reported = entries_checked;
          onProgress?.(entries_checked, last_seq);
        }
      });
      try {
        return outcomeOf(await client.request('verify', {}));
      } finally {
        sub.dispose();
      }
    },
  );
}

/** One sentence for a notification. */
export function describeOutcome(outcome: VerifyOutcome): string {
  if (outcome.ok) {
    const tail = outcome.unsignedTail > 0 ? ` ${outcome.unsignedTail} newest entries are not yet covered by a signed checkpoint.` : '';
    return `The audit log is intact: ${outcome.entriesChecked} entries checked${outcome.lastSeq === null ? '' : ` up to #${outcome.lastSeq}`}.${tail}`;
  }
  return `The audit log is broken${outcome.brokenSeq === null ? '' : ` at #${outcome.brokenSeq}`}: ${outcome.problem ?? 'unknown problem'}. Keep a copy of the data folder, restore it from an export or backup, and compare with the export manifests.`;
}
