import { randomUUID } from 'node:crypto';
import type { ToWebview } from '../../webview/protocol/chatMessages.ts';
import { decide, type ScanPolicy } from '../scanning/scanPolicy.ts';
import { ScanError, type ScanRequest, type ScanTarget, type ScanVerdict, type Scanner } from '../scanning/scanner.ts';
import type { ChatModel, ChatTurn } from './chatModel.ts';
import { buildFailureEvent, buildScanEvent, type FailureEventInput } from './scanEvent.ts';

export interface Attachment {
  name: string;
  type: string;
  size: number;
  sha256: string;
  text: string;
}

export interface ChatSessionDeps {
  /** The scanners to run on each message: the primary one, and the heuristic as a second opinion if set. */
  scanners: () => Scanner[];
  policy: () => ScanPolicy;
  /** Makes an audit event durable (the extension's queue) and returns its idempotency key. */
  record: (event: ReturnType<typeof buildScanEvent>) => Promise<string>;
  post: (message: ToWebview) => void;
  /** `afterScan`: an answer is shown only once its output scan passed; `whileStreaming`: shown as it comes. */
  revealAnswer: () => 'afterScan' | 'whileStreaming';
  session: { sessionId: string; userId?: string; workspace?: string; projectId?: string };
  log: (message: string) => void;
}

/**
 * One conversation of the chat panel: scans the prompt before it is sent, the answer after it is
 * complete, and attached files before they join a prompt; records every scan; and keeps the history
 * that the model sees (blocked prompts and withheld answers never enter it).
 */
export class ChatSession {
  private readonly deps: ChatSessionDeps;
  private history: ChatTurn[] = [];
  private attachments: Attachment[] = [];
  private conversationId = randomUUID();
  private running: AbortController | null = null;
  /** Idempotency key of a recorded scan → message id, for showing the audit seq once acknowledged. */
  readonly pendingAudit = new Map<string, { messageId: string; target: ScanTarget }>();

  constructor(deps: ChatSessionDeps) {
    this.deps = deps;
  }

  get busy(): boolean {
    return this.running !== null;
  }

  get attachmentList(): ReadonlyArray<Omit<Attachment, 'text' | 'sha256'>> {
    return this.attachments.map(({ name, type, size }) => ({ name, type, size }));
  }

  newConversation(): void {
    this.stop();
    this.history = [];
    this.attachments = [];
    this.conversationId = randomUUID();
  }

  stop(): void {
    this.running?.abort();
  }

  removeAttachment(name: string): void {
    this.attachments = this.attachments.filter((a) => a.name !== name);
  }

  /** Scans a file before it may join a prompt; records a `file.upload` entry either way. */
  async attach(file: Attachment): Promise<boolean> {
    const messageId = randomUUID();
    const { decision, reason, outcomes } = await this.scan('file', file.text, messageId, new AbortController().signal);
    const key = await this.deps.record(
      buildScanEvent({ target: 'file', outcomes, decision, reason, content: file.text, session: this.sessionInfo(), file: { name: file.name, type: file.type, size: file.size, sha256: file.sha256 } }),
    );
    this.pendingAudit.set(key, { messageId, target: 'file' });
    if (decision === 'blocked') {
      this.deps.post({ type: 'notice', level: 'error', text: `${file.name} was not attached: ${reason}` });
      return false;
    }
    if (decision === 'warned') this.deps.post({ type: 'notice', level: 'warning', text: `${file.name}: ${reason}` });
    this.attachments = [...this.attachments.filter((a) => a.name !== file.name), file];
    this.deps.post({ type: 'attachments', attachments: this.attachmentList.map((a) => ({ ...a })) });
    return true;
  }

  /** Sends one prompt: scan → (blocked: stop here) → model → scan of the answer → show or withhold. */
  async send(text: string, model: ChatModel): Promise<void> {
    if (this.running !== null) {
      this.deps.post({ type: 'notice', level: 'warning', text: 'Wait for the current answer, or stop it first.' });
      return;
    }
    const controller = new AbortController();
    this.running = controller;
    this.deps.post({ type: 'promptAccepted' });
    this.deps.post({ type: 'busy', busy: true });
    const messageId = randomUUID();
    try {
      const attached = this.attachments;
      this.attachments = [];
      this.deps.post({ type: 'userMessage', id: messageId, text, attachments: attached.map(({ name, type, size }) => ({ name, type, size })) });
      this.deps.post({ type: 'attachments', attachments: [] });
      const inputScan = await this.scan('input', text, messageId, controller.signal);
      const inputKey = await this.deps.record(
        buildScanEvent({ target: 'input', ...inputScan, content: text, session: this.sessionInfo(), model: { provider: model.provider, model: model.model } }),
      );
      this.pendingAudit.set(inputKey, { messageId, target: 'input' });
      if (inputScan.decision === 'blocked') {
        this.deps.post({ type: 'blocked', messageId, reason: inputScan.reason });
        return;
      }
      const prompt = attached.length === 0 ? text : `${text}\n\n${attached.map((a) => `File \`${a.name}\`:\n\`\`\`\n${a.text}\n\`\`\``).join('\n\n')}`;
      await this.answer(prompt, model, controller);
    } finally {
      this.running = null;
      this.deps.post({ type: 'busy', busy: false });
    }
  }

  private async answer(prompt: string, model: ChatModel, controller: AbortController): Promise<void> {
    const answerId = randomUUID();
    const hidden = this.deps.revealAnswer() === 'afterScan';
    this.deps.post({ type: 'answerStart', id: answerId, model: model.label });
    const turns: ChatTurn[] = [...this.history, { role: 'user', content: prompt }];
    const started = Date.now();
    let text = '';
    let tokens: { input: number; output: number } | undefined;
    let stopped = false;
    try {
      for await (const chunk of model.stream(turns, controller.signal)) {
        if (chunk.type === 'text') {
          text += chunk.text;
          this.deps.post({ type: 'answerChunk', id: answerId, text: hidden ? '' : chunk.text, hidden });
        } else if (chunk.type === 'usage') {
          tokens = { input: chunk.inputTokens, output: chunk.outputTokens };
        }
      }
    } catch (error: unknown) {
      if (controller.signal.aborted) {
        stopped = true;
      } else {
        const reason = error instanceof Error ? error.message : String(error);
        this.deps.log(`model ${model.id} failed: ${reason}`);
        // No answer, so no scan: the failure itself is the audit entry of this turn.
        const code = error instanceof Error && 'code' in error && typeof error.code === 'string' ? error.code : 'model_error';
        const key = await this.recordFailure({
          target: 'output',
          code,
          reason: `The model failed: ${reason}`,
          messageLength: text.length,
          model: { provider: model.provider, model: model.model },
          latencyMs: Date.now() - started,
        });
        this.pendingAudit.set(key, { messageId: answerId, target: 'output' });
        this.deps.post({ type: 'answerEnd', id: answerId, status: 'failed', reason: `The model failed: ${reason}` });
        return;
      }
    }
    const latencyMs = Date.now() - started;
    // Even a stopped answer is scanned before any of it is shown or kept.
    const outputScan = await this.scan('output', text, answerId, new AbortController().signal, turns);
    const key = await this.deps.record(
      buildScanEvent({ target: 'output', ...outputScan, content: text, session: this.sessionInfo(), model: { provider: model.provider, model: model.model }, latencyMs, ...(tokens === undefined ? {} : { tokens }) }),
    );
    this.pendingAudit.set(key, { messageId: answerId, target: 'output' });
    if (outputScan.decision === 'blocked') {
      this.deps.post({ type: 'answerEnd', id: answerId, status: 'withheld', reason: outputScan.reason });
      return;
    }
    this.history = [...turns, { role: 'assistant', content: text }];
    this.deps.post({ type: 'answerEnd', id: answerId, status: stopped ? 'stopped' : 'shown', text, ...(outputScan.decision === 'warned' ? { reason: outputScan.reason } : {}) });
  }

  /** Records a refusal or failure that no scanner judged (`decision: error`); returns its idempotency key. */
  recordFailure(input: Omit<FailureEventInput, 'session'>): Promise<string> {
    return this.deps.record(buildFailureEvent({ ...input, session: this.sessionInfo() }));
  }

  private async scan(target: ScanTarget, content: string, messageId: string, signal: AbortSignal, history: readonly ChatTurn[] = this.history) {
    const request: ScanRequest = {
      target,
      content,
      // An answer is judged with the prompt it answers (Lakera screens the last user/assistant pair).
      history,
      metadata: { session_id: this.deps.session.sessionId, source: target === 'file' ? 'vscode-file' : 'vscode-chat', conversation_id: this.conversationId, ...(this.deps.session.userId === undefined ? {} : { user_id: this.deps.session.userId }) },
      signal,
    };
    const scanners = this.deps.scanners();
    const outcomes = await Promise.all(
      scanners.map((scanner) =>
        scanner.scan(request).catch((error: unknown): ScanError =>
          error instanceof ScanError ? error : new ScanError(scanner.name, 'internal', error instanceof Error ? error.message : String(error), { latencyMs: 0 }),
        ),
      ),
    );
    const { decision, reason, blockingCategories } = decide(outcomes, this.deps.policy());
    const categories = outcomes.flatMap((o) => ('flagged' in o ? Object.entries((o as ScanVerdict).categories).filter(([, v]) => v).map(([k]) => k) : []));
    this.deps.post({
      type: 'scan',
      messageId,
      scan: { target, decision, reason, scanners: scanners.map((s) => s.name), categories: [...new Set([...categories, ...blockingCategories])].slice(0, 64), auditSeq: null },
    });
    return { decision, reason, outcomes };
  }

  private sessionInfo() {
    return { ...this.deps.session, conversationId: this.conversationId };
  }
}
