import * as vscode from 'vscode';
import type { DaemonClient } from '../../daemon/client/daemonClient.ts';
import type { ContentMode } from '../../daemon/protocol/entry.ts';
import { AuditLogPanel, AUDIT_LOG_VIEW_TYPE, type AuditLogPanelDeps } from './auditLogPanel.ts';
import { withDaemon } from './daemonCommand.ts';
import { describeOutcome, verifyWithProgress } from './integrityCheck.ts';

/** Command ids of the audit log feature (category "AI Audit Trail" in package.json). */
export const AuditLogCommands = {
  open: 'aiAuditTrail.openAuditLog',
  verify: 'aiAuditTrail.verifyIntegrity',
  retention: 'aiAuditTrail.runRetention',
  rotateKeys: 'aiAuditTrail.rotateKeys',
  retentionDays: 'aiAuditTrail.setRetentionDays',
  contentMode: 'aiAuditTrail.setContentMode',
} as const;

const CONTENT_MODES: Array<vscode.QuickPickItem & { mode: ContentMode }> = [
  { label: 'hash', description: 'default: keyed HMAC-SHA-256 of prompts and answers, no content kept', mode: 'hash' },
  { label: 'encrypted', description: 'AES-256-GCM; reviewers can decrypt (each decryption is audited)', mode: 'encrypted' },
  { label: 'none', description: 'metadata only: lengths, file names and sizes, no digest', mode: 'none' },
];

/** The seq a command argument names: a number, `{ seq }`, or a `#123` string (chat badges pass a number). */
function seqArgument(arg: unknown): number | undefined {
  if (typeof arg === 'number' && Number.isSafeInteger(arg) && arg > 0) return arg;
  if (typeof arg === 'object' && arg !== null && 'seq' in arg) return seqArgument((arg as { seq: unknown }).seq);
  if (typeof arg === 'string' && /^#?\d+$/.test(arg)) return seqArgument(Number(arg.replace('#', '')));
  return undefined;
}

/**
 * Registers the audit log's commands and the viewer's panel serializer (so an open viewer comes back
 * after a window reload with its filter set). Every failure says what to do next.
 */
export function registerAuditLogCommands(deps: AuditLogPanelDeps): vscode.Disposable[] {
  const withClient = (what: string, work: (client: DaemonClient) => Promise<void>) => withDaemon(deps.supervisor, deps.log, what, work);

  return [
    vscode.window.registerWebviewPanelSerializer(AUDIT_LOG_VIEW_TYPE, {
      deserializeWebviewPanel: async (panel) => {
        AuditLogPanel.revive(panel, deps);
      },
    }),
    vscode.commands.registerCommand(AuditLogCommands.open, (arg?: unknown) => {
      const seq = seqArgument(arg);
      AuditLogPanel.show(deps, seq === undefined ? {} : { reveal: seq });
    }),
    vscode.commands.registerCommand(AuditLogCommands.verify, () =>
      withClient('Could not verify the audit log', async (client) => {
        const outcome = await verifyWithProgress(client);
        if (outcome.ok) {
          void vscode.window.showInformationMessage(describeOutcome(outcome));
          return;
        }
        const broken = outcome.brokenSeq;
        const choice = await vscode.window.showErrorMessage(describeOutcome(outcome), ...(broken === null ? [] : [`Open #${broken}`]));
        if (broken !== null && choice === `Open #${broken}`) AuditLogPanel.show(deps, { reveal: broken });
      }),
    ),
    vscode.commands.registerCommand(AuditLogCommands.retention, () =>
      withClient('Could not run the retention cleanup', async (client) => {
        const settings = await client.request('settings.get', {});
        const go = await vscode.window.showWarningMessage(
          `Delete audit entries older than ${settings.retention_days} days?`,
          { modal: true, detail: 'Whole expired segments are removed; a signed anchor keeps the remaining chain verifiable. The run is recorded as audit.retention. Change the period with "AI Audit Trail: Set Retention Period".' },
          'Run Cleanup',
        );
        if (go !== 'Run Cleanup') return;
        const result = await client.request('retention.run', {});
        void vscode.window.showInformationMessage(
          result.dropped_segments === 0
            ? `Nothing is older than ${settings.retention_days} days: no entries were removed.`
            : `Removed ${result.dropped_entries} entries in ${result.dropped_segments} segments (up to #${result.anchor_seq ?? '?'}).`,
        );
      }),
    ),
    vscode.commands.registerCommand(AuditLogCommands.rotateKeys, () =>
      withClient('Could not rotate the encryption keys', async (client) => {
        const go = await vscode.window.showWarningMessage(
          'Rotate the audit log keys?',
          { modal: true, detail: 'New HMAC, encryption and signing keys become active; old keys stay in the keychain so older entries can still be checked and decrypted. The rotation is recorded as audit.keys.rotate. Hand the new signing public key to whoever verifies exports.' },
          'Rotate Keys',
        );
        if (go !== 'Rotate Keys') return;
        const status = await client.request('keys.rotate', {});
        const copy = await vscode.window.showInformationMessage(`Keys rotated. Active encryption key: ${status.encryption_key_id}; signing key: ${status.signing_key_id}.`, 'Copy Signing Public Key');
        if (copy === 'Copy Signing Public Key') await vscode.env.clipboard.writeText(status.signing_public_key);
      }),
    ),
    vscode.commands.registerCommand(AuditLogCommands.retentionDays, () =>
      withClient('Could not change the retention period', async (client) => {
        const settings = await client.request('settings.get', {});
        const value = await vscode.window.showInputBox({
          title: 'Retention period of the audit log',
          prompt: 'Days to keep entries (1–36500). Applies at the next retention run; recorded as audit.settings.',
          value: String(settings.retention_days),
          ignoreFocusOut: true,
          validateInput: (v) => (/^\d+$/.test(v.trim()) && Number(v) >= 1 && Number(v) <= 36_500 ? undefined : 'A whole number of days from 1 to 36500.'),
        });
        if (value === undefined) return;
        const next = await client.request('settings.set', { retention_days: Number(value.trim()) });
        void vscode.window.showInformationMessage(`Audit entries are kept for ${next.retention_days} days.`);
      }),
    ),
    vscode.commands.registerCommand(AuditLogCommands.contentMode, () =>
      withClient('Could not change the content mode', async (client) => {
        const settings = await client.request('settings.get', {});
        const picked = await vscode.window.showQuickPick(
          CONTENT_MODES.map((m) => ({ ...m, picked: m.mode === settings.content_mode, detail: m.mode === settings.content_mode ? 'current' : undefined })),
          { title: 'How the audit log keeps prompts and answers (new entries)', ignoreFocusOut: true },
        );
        if (picked === undefined) return;
        const next = await client.request('settings.set', { content_mode: picked.mode });
        void vscode.window.showInformationMessage(`New audit entries keep content in ${next.content_mode} mode.`);
      }),
    ),
  ];
}
