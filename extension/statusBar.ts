import * as vscode from 'vscode';
import type { DaemonClient } from '../daemon/client/daemonClient.ts';
import type { ConnectionState, DaemonSupervisor } from './daemon/daemonSupervisor.ts';

/**
 * The status bar item: connection to the audit daemon and today's blocked count (from `stats`, kept
 * current by a tail subscription to blocked entries). Clicking it opens the audit log.
 */
export class AuditStatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('aiAuditTrail.status', vscode.StatusBarAlignment.Left, 50);
  private readonly disposables: vscode.Disposable[] = [];
  private blockedToday = 0;
  private day = new Date().toISOString().slice(0, 10);
  private readonly log: (message: string) => void;

  constructor(supervisor: DaemonSupervisor, log: (message: string) => void) {
    this.log = log;
    this.item.name = 'AI Audit Trail';
    this.item.command = 'aiAuditTrail.openAuditLog';
    this.render(supervisor.state);
    this.item.show();
    const sub = supervisor.onState((state) => {
      this.render(state);
      if (state.status === 'connected') void this.watch(state.client);
    });
    this.disposables.push({ dispose: () => sub.dispose() }, this.item);
  }

  private async watch(client: DaemonClient): Promise<void> {
    try {
      const today = new Date().toISOString().slice(0, 10);
      const stats = await client.request('stats', { filter: { since: `${today}T00:00:00.000Z`, decision: 'blocked' } });
      this.day = today;
      this.blockedToday = stats.per_day.find((d) => d.day === today)?.blocked ?? 0;
      let subscription = '';
      // Other views (the audit log) subscribe on the same connection: count only this subscription's entries.
      client.on('tail.entries', ({ subscription: from, entries }) => {
        if (from !== subscription) return;
        const now = new Date().toISOString().slice(0, 10);
        if (now !== this.day) {
          this.day = now;
          this.blockedToday = 0;
        }
        this.blockedToday += entries.filter((e) => e.decision === 'blocked' && e.ts.slice(0, 10) === now).length;
        this.item.text = this.text(true);
      });
      subscription = (await client.request('tail.subscribe', { filter: { decision: 'blocked' } })).subscription;
      this.item.text = this.text(true);
    } catch (error: unknown) {
      this.log(`status bar: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  private text(connected: boolean): string {
    return connected ? `$(shield) Audit: ${this.blockedToday} blocked today` : '$(shield) Audit: offline';
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
