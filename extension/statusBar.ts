import * as vscode from 'vscode';
import { BlockedTodayCounter } from './daemon/blockedToday.ts';
import type { ConnectionState, DaemonSupervisor } from './daemon/daemonSupervisor.ts';

/**
 * The status bar item: connection to the audit daemon and today's blocked count (from `stats`, read again
 * whenever a blocked entry arrives by tail; see {@link BlockedTodayCounter}). Clicking it opens the audit log.
 */
export class AuditStatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('aiAuditTrail.status', vscode.StatusBarAlignment.Left, 50);
  private readonly disposables: vscode.Disposable[] = [];
  private blockedToday: number | null = null;
  private counter: BlockedTodayCounter | null = null;
  private readonly log: (message: string) => void;

  constructor(supervisor: DaemonSupervisor, log: (message: string) => void) {
    this.log = log;
    this.item.name = 'AI Audit Trail';
    this.item.command = 'aiAuditTrail.openAuditLog';
    this.render(supervisor.state);
    this.item.show();
    const sub = supervisor.onState((state) => {
      this.counter?.dispose();
      this.counter = null;
      this.blockedToday = null;
      this.render(state);
      if (state.status === 'connected') {
        const counter = new BlockedTodayCounter({
          client: state.client,
          log: this.log,
          onCount: (count) => {
            this.blockedToday = count;
            this.item.text = this.text(true);
          },
        });
        this.counter = counter;
        void counter.start().catch((error: unknown) => this.log(`status bar: ${error instanceof Error ? error.message : String(error)}`));
      }
    });
    this.disposables.push({ dispose: () => sub.dispose() }, { dispose: () => this.counter?.dispose() }, this.item);
  }

  private text(connected: boolean): string {
    if (!connected) return '$(shield) Audit: offline';
    return this.blockedToday === null ? '$(shield) Audit: connected' : `$(shield) Audit: ${this.blockedToday} blocked today`;
  }
  private render(state: ConnectionState): void {
    if (state.status === 'connected') {
      this.item.text = this.text(true);
      this.item.tooltip = `AI Audit Trail: connected to the audit daemon (pid ${state.pid}). Click to open the audit log.`;
      this.item.backgroundColor = undefined;
    } else if (state.status === 'connecting') {
      this.item.text = '$(sync~spin) Audit: connecting';
      this.item.tooltip = 'AI Audit Trail: connecting to the audit daemon';
    } else {
      this.item.text = this.text(false);
      this.item.tooltip = `AI Audit Trail: the audit daemon is unreachable (${state.reason}). Events wait in a local queue; retrying.`;
      this.item.backgroundColor = new vscode.ThemeColor('statusBarItem.warningBackground');
    }
  }

  dispose(): void {
    for (const d of this.disposables.reverse()) d.dispose();
  }
}
