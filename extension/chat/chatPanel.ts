import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import * as vscode from 'vscode';
import { webviewHtml } from '../webviewHtml.ts';
import { FromWebview, MAX_PROMPT_CHARS, type ToWebview } from '../../webview/protocol/chatMessages.ts';
import type { ChatModel } from './chatModel.ts';
import { ChatSession, type ChatSessionDeps } from './chatSession.ts';

/** Largest file that may be attached (bytes); larger ones are refused with the limit in the message. */
export const MAX_ATTACHMENT_BYTES = 1024 * 1024;

const TEXT_TYPES: Record<string, string> = {
  '.txt': 'text', '.md': 'markdown', '.markdown': 'markdown', '.json': 'json', '.jsonl': 'json', '.csv': 'csv',
  '.ts': 'code', '.tsx': 'code', '.js': 'code', '.jsx': 'code', '.mjs': 'code', '.cjs': 'code', '.py': 'code',
  '.go': 'code', '.rs': 'code', '.java': 'code', '.kt': 'code', '.c': 'code', '.h': 'code', '.cpp': 'code',
  '.cs': 'code', '.rb': 'code', '.php': 'code', '.sh': 'code', '.sql': 'code', '.yaml': 'yaml', '.yml': 'yaml',
  '.toml': 'toml', '.xml': 'xml', '.html': 'html', '.css': 'css', '.log': 'text',
};

export interface ChatPanelDeps extends Omit<ChatSessionDeps, 'post'> {
  extensionUri: vscode.Uri;
  models: () => Promise<ChatModel[]>;
  scannerLabel: () => string;
  noModelHint: string;
  /** Subscribes to daemon acks of recorded events: idempotency key → seq. */
  onAudited: (listener: (key: string, seq: number) => void) => vscode.Disposable;
}

type Handlers = { [T in FromWebview['type']]: (message: Extract<FromWebview, { type: T }>) => Promise<void> | void };

/** Links from answers open only with these schemes (the renderer makes no others). */
const OPENABLE_LINK = /^(https?:|mailto:)/i;

/**
 * The chat webview panel: a locked-down webview (CSP with a nonce, local resources from the bundle only)
 * that talks to its {@link ChatSession} through validated, typed messages. Open panels are kept by
 * {@link ChatPanels}, which refreshes them when settings, secrets or models change.
 */
export class ChatPanel implements vscode.Disposable {
  private readonly panel: vscode.WebviewPanel;
  private readonly session: ChatSession;
  private readonly deps: ChatPanelDeps;
  private readonly disposables: vscode.Disposable[] = [];
  private models: ChatModel[] = [];
  private selectedModelId: string | null = null;

  private readonly onDispose: () => void;
  private disposed = false;

  constructor(deps: ChatPanelDeps, onDispose: () => void) {
    this.deps = deps;
    this.onDispose = onDispose;
    const bundle = vscode.Uri.joinPath(deps.extensionUri, 'dist', 'webview');
    this.panel = vscode.window.createWebviewPanel('aiAuditTrail.chat', 'AI Chat (audited)', vscode.ViewColumn.Beside, {
      enableScripts: true,
      retainContextWhenHidden: true,
      localResourceRoots: [bundle],
    });
    this.panel.iconPath = new vscode.ThemeIcon('shield');
    this.session = new ChatSession({ ...deps, post: (message) => this.post(message) });
    this.panel.webview.html = this.html(bundle);
    this.disposables.push(
      this.panel.webview.onDidReceiveMessage((raw: unknown) => this.receive(raw)),
      this.panel.onDidDispose(() => this.dispose()),
      vscode.lm.onDidChangeChatModels(() => void this.sendInit()),
      deps.onAudited((key, seq) => {
        const pending = this.session.pendingAudit.get(key);
        if (pending === undefined) return;
        this.session.pendingAudit.delete(key);
        this.post({ type: 'audited', messageId: pending.messageId, target: pending.target, seq });
      }),
    );
  }

  private readonly handlers: Handlers = {
    ready: () => this.sendInit(),
    send: async ({ text, modelId }) => {
      // The list may be older than the settings (an endpoint configured meanwhile): ask again before giving up.
      if (!this.models.some((m) => m.id === modelId)) await this.sendInit();
      const model = this.models.find((m) => m.id === modelId) ?? this.models[0];
      if (model === undefined) {
        // The prompt stays in the composer (it is cleared only on promptAccepted).
        this.post({ type: 'notice', level: 'error', text: `Not sent: ${this.deps.noModelHint}` });
        return;
      }
      this.selectedModelId = model.id;
      await this.session.send(text, model);
    },
    stop: () => this.session.stop(),
    attach: () => this.attach(),
    removeAttachment: ({ name }) => {
      this.session.removeAttachment(name);
      this.post({ type: 'attachments', attachments: this.session.attachmentList.map((a) => ({ ...a })) });
    },
    copy: async ({ text }) => {
      await vscode.env.clipboard.writeText(text);
      void vscode.window.setStatusBarMessage('Copied', 1500);
    },
    configureModel: async () => {
      await vscode.commands.executeCommand('aiAuditTrail.configureModelEndpoint');
      await this.sendInit();
    },
    newConversation: async () => {
      this.session.newConversation();
      this.post({ type: 'cleared' });
      await this.sendInit();
    },
    promptRefused: async ({ length }) => {
      await this.session.recordFailure({
        target: 'input',
        code: 'prompt_too_long',
        reason: `The prompt has ${length} characters, over the limit of ${MAX_PROMPT_CHARS}; it was not sent.`,
        messageLength: length,
      });
    },
    openLink: ({ href }) => this.openLink(href),
    openAuditEntry: async ({ seq }) => {
      await vscode.commands.executeCommand('aiAuditTrail.openAuditLog', seq);
    },
  };

  /** Opens a link from a model answer only after the user saw its real target and agreed. */
  private async openLink(href: string): Promise<void> {
    if (!OPENABLE_LINK.test(href)) return;
    const choice = await vscode.window.showWarningMessage(
      'Open a link from a model answer?',
      { modal: true, detail: `${href}\n\nModel answers can be steered by text the model has read. Check the address before you open it.` },
      'Open Link',
    );
    if (choice === 'Open Link') await vscode.env.openExternal(vscode.Uri.parse(href, true));
  }

  private async receive(raw: unknown): Promise<void> {
    const parsed = FromWebview.safeParse(raw);
    if (!parsed.success) {
      this.deps.log(`chat: ignored an invalid message from the webview (${parsed.error.issues[0]?.message ?? 'invalid'})`);
      return;
    }
    const message = parsed.data;
    const handler = this.handlers[message.type] as (m: FromWebview) => Promise<void> | void;
    try {
      await handler(message);
    } catch (error: unknown) {
      const text = error instanceof Error ? error.message : String(error);
      this.deps.log(`chat: ${message.type} failed: ${text}`);
      this.post({ type: 'notice', level: 'error', text });
    }
  }

  /** Reads models and scanner state again and shows them (settings, secrets or models changed). */
  refresh(): Promise<void> {
    return this.sendInit();
  }

  reveal(): void {
    this.panel.reveal(vscode.ViewColumn.Beside);
  }

  private async sendInit(): Promise<void> {
    if (this.disposed) return;
    this.models = await this.deps.models();
    if (this.selectedModelId === null || !this.models.some((m) => m.id === this.selectedModelId)) this.selectedModelId = this.models[0]?.id ?? null;
    this.post({
      type: 'init',
      models: this.models.map((m) => ({ id: m.id, label: m.label, detail: m.provider })),
      selectedModelId: this.selectedModelId,
      noModelHint: this.models.length === 0 ? this.deps.noModelHint : null,
      scannerLabel: this.deps.scannerLabel(),
    });
  }


  /** Attaches a file after checking it is text and within the size limit, then scanning it. */
  async attachFile(uri: vscode.Uri): Promise<boolean> {
    const name = basename(uri.fsPath);
    const info = await stat(uri.fsPath);
    // A refused file is audited too: someone tried to hand it to a model.
    const refuse = async (code: string, reason: string, file: { name: string; size: number; type?: string; sha256?: string }) => {
      this.post({ type: 'notice', level: 'error', text: reason });
      await this.session.recordFailure({ target: 'file', code, reason, messageLength: 0, file });
      return false;
    };
    if (info.size > MAX_ATTACHMENT_BYTES) {
      return refuse('too_large', `${name} is ${info.size} bytes; files up to ${MAX_ATTACHMENT_BYTES} bytes can be attached.`, { name, size: info.size });
    }
    const bytes = await readFile(uri.fsPath);
    const type = TEXT_TYPES[extname(name).toLowerCase()];
    const text = bytes.toString('utf8');
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    // A NUL byte or invalid UTF-8 means binary: models and scanners see text only.
    if (type === undefined || bytes.includes(0) || Buffer.from(text, 'utf8').compare(bytes) !== 0) {
      const fileType = extname(name).slice(1).toLowerCase();
      return refuse('binary_file', `${name} is not a text file (text, code, markdown, JSON, CSV…): binary files cannot be attached.`, {
        name,
        size: info.size,
        sha256,
        ...(fileType === '' ? {} : { type: fileType }),
      });
    }
    return this.session.attach({ name, type, size: info.size, sha256, text });
  }

  private async attach(): Promise<void> {
    const picked = await vscode.window.showOpenDialog({ canSelectMany: true, openLabel: 'Attach (scanned first)' });
    for (const uri of picked ?? []) await this.attachFile(uri);
  }

  private post(message: ToWebview): void {
    if (this.disposed) return;
    void this.panel.webview.postMessage(message);
  }

  private html(bundle: vscode.Uri): string {
    return webviewHtml(this.panel.webview, { bundle, script: 'chat.js', style: 'chat.css', title: 'AI Chat (audited)', imageSources: ['data:'] });
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.onDispose();
    this.session.stop();
    for (const d of this.disposables.splice(0).reverse()) d.dispose();
    this.panel.dispose();
  }
}
