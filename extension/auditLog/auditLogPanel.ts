import * as vscode from 'vscode';
import { webviewHtml } from '../webviewHtml.ts';
import type { DaemonClient } from '../../daemon/client/daemonClient.ts';
import type { EntryFilter } from '../../daemon/protocol/messages.ts';
import { FromAuditLog, type ReviewVerdict, type ToAuditLog } from '../../webview/protocol/auditLogMessages.ts';
import { entryRow } from '../../webview/protocol/entryRow.ts';
import { AccessRecorder } from './accessRecorder.ts';
import type { DaemonAccess, DaemonConnection } from './daemonAccess.ts';
import { describeFailure, NOT_CONNECTED } from './failureAdvice.ts';
import { describeOutcome, verifyWithProgress } from './integrityCheck.ts';

export const AUDIT_LOG_VIEW_TYPE = 'aiAuditTrail.auditLog';

export interface AuditLogPanelDeps {
  extensionUri: vscode.Uri;
  supervisor: DaemonAccess;
  /** The reviewer's name (the `aiAuditTrail.userId` setting or the OS user). */
  reviewer: () => string;
  log: (message: string) => void;
  /** Exports entries matching a filter (the export command), when exports are available. */
  exportFiltered?: (filter: EntryFilter, report: (text: string) => void) => Promise<{ ok: boolean; text: string; objects: string[] }>;
}

type Handlers = { [T in FromAuditLog['type']]: (message: Extract<FromAuditLog, { type: T }>) => Promise<void> | void };

const VERDICTS: Array<vscode.QuickPickItem & { verdict: ReviewVerdict }> = [
  { label: 'OK', description: 'the decision was right', verdict: 'ok' },
  { label: 'False positive', description: 'flagged or blocked, but harmless', verdict: 'false_positive' },
  { label: 'Incident', description: 'needs follow-up', verdict: 'incident' },
];

/**
 * The audit log webview panel: a locked-down webview (CSP with a nonce, scripts and styles from the
 * bundle only) whose every message is validated and dispatched through a table. It relays the viewer's
 * queries to the daemon, asks for confirmation and a reason before decrypting, records reviews, and
 * records what the reviewer looked at (`audit.access`, batched per minute).
 */
export class AuditLogPanel implements vscode.Disposable {
  private static current: AuditLogPanel | undefined;
  private readonly panel: vscode.WebviewPanel;
  private readonly deps: AuditLogPanelDeps;
  private readonly disposables: vscode.Disposable[] = [];
  private readonly access: AccessRecorder;
  private tail: { client: DaemonClient; subscription: string; listener: { dispose(): void } } | null = null;
  private tailFilter: EntryFilter | null = null;
  private pendingReveal: number | null;
  private initialFilter: EntryFilter | null;
  private ready = false;
  private disposed = false;

  /** Opens (or reveals) the viewer; `reveal` jumps to an entry, `filter` starts with a filter set. */
  static show(deps: AuditLogPanelDeps, options: { reveal?: number; filter?: EntryFilter } = {}): AuditLogPanel {
    const open = AuditLogPanel.current;
    if (open !== undefined) {
      open.panel.reveal();
      if (options.reveal !== undefined) {
        if (open.ready) open.post({ type: 'reveal', seq: options.reveal });
        else open.pendingReveal = options.reveal;
      }
      return open;
    }
    const bundle = vscode.Uri.joinPath(deps.extensionUri, 'dist', 'webview');
    const panel = vscode.window.createWebviewPanel(AUDIT_LOG_VIEW_TYPE, 'Audit Log', vscode.ViewColumn.Active, AuditLogPanel.webviewOptions(bundle));
    AuditLogPanel.current = new AuditLogPanel(panel, deps, options.reveal ?? null, options.filter ?? null);
    return AuditLogPanel.current;
  }

  /** Restores the viewer after a window reload (the webview keeps its filter set in its own state). */
  static revive(panel: vscode.WebviewPanel, deps: AuditLogPanelDeps): AuditLogPanel {
    AuditLogPanel.current?.dispose();
    panel.webview.options = AuditLogPanel.webviewOptions(vscode.Uri.joinPath(deps.extensionUri, 'dist', 'webview'));
    AuditLogPanel.current = new AuditLogPanel(panel, deps, null, null);
    return AuditLogPanel.current;
  }

  private static webviewOptions(bundle: vscode.Uri): vscode.WebviewPanelOptions & vscode.WebviewOptions {
    return { enableScripts: true, retainContextWhenHidden: true, localResourceRoots: [bundle] };
  }

  private constructor(panel: vscode.WebviewPanel, deps: AuditLogPanelDeps, reveal: number | null, filter: EntryFilter | null) {
    this.panel = panel;
    this.deps = deps;
    this.pendingReveal = reveal;
    this.initialFilter = filter;
    this.panel.iconPath = new vscode.ThemeIcon('shield');
    this.access = new AccessRecorder({
      viewer: deps.reviewer(),
      log: deps.log,
      send: async (batch) => {
        const client = deps.supervisor.client;
        if (client === null) throw new Error('the daemon is not connected');
        await client.request('access.record', batch);
      },
    });
    this.access.viewerOpened();
    this.panel.webview.html = this.html(vscode.Uri.joinPath(deps.extensionUri, 'dist', 'webview'));
    const state = deps.supervisor.onState((s) => this.connectionChanged(s));
    this.disposables.push(
      { dispose: () => state.dispose() },
      this.panel.webview.onDidReceiveMessage((raw: unknown) => this.receive(raw)),
      this.panel.onDidDispose(() => this.dispose()),
    );
  }

  private client(): DaemonClient {
    const client = this.deps.supervisor.client;
    if (client === null) throw new Error('the daemon is not connected');
    return client;
  }

  private readonly handlers: Handlers = {
    ready: () => {
      this.ready = true;
      this.connectionChanged(this.deps.supervisor.state);
      this.post({ type: 'init', filter: this.initialFilter, reveal: this.pendingReveal });
      this.pendingReveal = null;
      this.initialFilter = null;
    },
    query: async ({ requestId, filter, cursor, limit }) => {
      try {
        const page = await this.client().request('query', { filter, limit, ...(cursor === null ? {} : { cursor }) });
        // Only the table's columns cross to the webview; the detail panel asks for the whole entry.
        this.post({ type: 'page', requestId, rows: page.entries.map(entryRow), nextCursor: page.next_cursor });
      } catch (error: unknown) {
        this.post({ type: 'pageFailed', requestId, message: describeFailure('Could not load entries', error) });
      }
    },
    stats: async ({ requestId, filter }) => {
      const stats = await this.client().request('stats', { filter, top: 10 });
      this.post({ type: 'stats', requestId, stats });
    },
    filterApplied: ({ filter }) => this.access.filterApplied(filter),
    detail: async ({ seq }) => {
      this.access.entryOpened(seq);
      const detail = await this.client().request('entry.detail', { seq });
      this.post({ type: 'detail', entry: detail.entry, checkpoint: detail.checkpoint, reviews: detail.reviews });
    },
    decrypt: async ({ seq }) => {
      const confirm = await vscode.window.showWarningMessage(
        `Decrypt the content of audit entry #${seq}?`,
        { modal: true, detail: 'The decryption is recorded in the audit log (audit.decrypt) with your reason, before any content is shown.' },
        'Decrypt…',
      );
      if (confirm !== 'Decrypt…') return;
      const reason = await vscode.window.showInputBox({
        title: `Reason for decrypting entry #${seq}`,
        prompt: 'Recorded in the audit log with the decryption (e.g. an incident or ticket number).',
        ignoreFocusOut: true,
        validateInput: (value) => (value.trim().length === 0 ? 'A reason is required.' : value.length > 4096 ? 'At most 4096 characters.' : undefined),
      });
      if (reason === undefined || reason.trim() === '') return;
      const result = await this.client().request('decrypt', { seq, reason: reason.trim() });
      this.post({ type: 'decrypted', seq, auditSeq: result.audit_seq, input: result.input ?? null, output: result.output ?? null });
    },
    review: async ({ seq }) => {
      const verdict = await vscode.window.showQuickPick(VERDICTS, { title: `Review of audit entry #${seq}`, placeHolder: 'Verdict', ignoreFocusOut: true });
      if (verdict === undefined) return;
      const note = await vscode.window.showInputBox({
        title: `Review of audit entry #${seq}: ${verdict.label}`,
        prompt: 'Note (optional; recorded in the audit log as an audit.review entry)',
        ignoreFocusOut: true,
        validateInput: (value) => (value.length > 4096 ? 'At most 4096 characters.' : undefined),
      });
      if (note === undefined) return;
      const client = this.client();
      const { audit_seq } = await client.request('review.add', { seq, reviewer: this.deps.reviewer(), verdict: verdict.verdict, note: note.trim() });
      const detail = await client.request('entry.detail', { seq });
      this.post({ type: 'detail', entry: detail.entry, checkpoint: detail.checkpoint, reviews: detail.reviews });
      this.post({ type: 'notice', level: 'info', text: `Review recorded as audit entry #${audit_seq}.` });
    },
    tail: async ({ on, filter }) => {
      this.tailFilter = on ? filter : null;
      await this.subscribeTail();
    },
    verify: async () => {
      const outcome = await verifyWithProgress(this.client(), (entriesChecked, lastSeq) => this.post({ type: 'verifyProgress', entriesChecked, lastSeq }));
      this.post({ type: 'verifyResult', outcome });
      if (!outcome.ok) void vscode.window.showErrorMessage(describeOutcome(outcome));
    },
    export: async ({ filter }) => {
      if (this.deps.exportFiltered === undefined) {
        this.post({ type: 'exportResult', ok: false, text: 'Exports are not available in this build.', objects: [] });
        return;
      }
      const result = await this.deps.exportFiltered(filter, (text) => this.post({ type: 'exportProgress', text }));
      this.post({ type: 'exportResult', ...result });
    },
    copy: async ({ text }) => {
      await vscode.env.clipboard.writeText(text);
      void vscode.window.setStatusBarMessage('Copied', 1500);
    },
  };

  private async receive(raw: unknown): Promise<void> {
    const parsed = FromAuditLog.safeParse(raw);
    if (!parsed.success) {
      this.deps.log(`audit log: ignored an invalid message from the webview (${parsed.error.issues[0]?.message ?? 'invalid'})`);
      return;
    }
    const message = parsed.data;
    const handler = this.handlers[message.type] as (m: FromAuditLog) => Promise<void> | void;
    try {
      await handler(message);
    } catch (error: unknown) {
      const text = describeFailure(`${message.type} failed`, error);
      this.deps.log(`audit log: ${text}`);
      this.post({ type: 'notice', level: 'error', text });
    }
  }

  /** (Re)subscribes the live tail on the current connection with the current filter, or unsubscribes. */
  private async subscribeTail(): Promise<void> {
    const old = this.tail;
    this.tail = null;
    if (old !== null) {
      old.listener.dispose();
      await old.client.request('tail.unsubscribe', { subscription: old.subscription }).catch(() => undefined);
    }
    const client = this.deps.supervisor.client;
    if (this.tailFilter === null || client === null || this.disposed) return;
    let subscription = '';
    const listener = client.on('tail.entries', (params) => {
      if (params.subscription === subscription) this.post({ type: 'tailEntries', rows: params.entries.map(entryRow) });
    });
    try {
      subscription = (await client.request('tail.subscribe', { filter: this.tailFilter })).subscription;
      this.tail = { client, subscription, listener };
    } catch (error: unknown) {
      listener.dispose();
      throw error;
    }
  }

  private connectionChanged(state: DaemonConnection): void {
    if (!this.ready) return;
    if (state.status === 'connected') {
      this.post({ type: 'connection', connected: true, text: `Connected (daemon pid ${state.pid})` });
      if (this.tailFilter !== null && this.tail?.client !== state.client) void this.subscribeTail().catch((e: unknown) => this.deps.log(`audit log: tail: ${String(e)}`));
    } else {
      this.tail = null;
      this.post({ type: 'connection', connected: false, text: state.status === 'connecting' ? 'Connecting to the audit daemon…' : NOT_CONNECTED });
    }
  }

  private post(message: ToAuditLog): void {
    void this.panel.webview.postMessage(message);
  }

  private html(bundle: vscode.Uri): string {
    return webviewHtml(this.panel.webview, { bundle, script: 'auditLog.js', style: 'auditLog.css', title: 'Audit Log' });
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (AuditLogPanel.current === this) AuditLogPanel.current = undefined;
    const tail = this.tail;
    this.tail = null;
    if (tail !== null) {
      tail.listener.dispose();
      void tail.client.request('tail.unsubscribe', { subscription: tail.subscription }).catch(() => undefined);
    }
    void this.access.dispose();
    for (const d of this.disposables.splice(0).reverse()) d.dispose();
    this.panel.dispose();
  }
}
