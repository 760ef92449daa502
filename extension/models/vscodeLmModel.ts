import * as vscode from 'vscode';
import type { ChatChunk, ChatModel, ChatTurn } from '../chat/chatModel.ts';

/** A model from `vscode.lm` (Copilot or any installed provider) as a {@link ChatModel}. */
export class VscodeLmModel implements ChatModel {
  readonly id: string;
  readonly label: string;
  readonly provider: string;
  readonly model: string;
  private readonly chat: vscode.LanguageModelChat;

  constructor(chat: vscode.LanguageModelChat) {
    this.chat = chat;
    this.id = `lm:${chat.vendor}/${chat.id}`;
    this.label = `${chat.name} (${chat.vendor})`;
    this.provider = chat.vendor;
    this.model = chat.family === '' ? chat.id : `${chat.family}/${chat.id}`;
  }

  async *stream(messages: readonly ChatTurn[], signal: AbortSignal): AsyncIterable<ChatChunk> {
    const source = new vscode.CancellationTokenSource();
    const onAbort = () => source.cancel();
    signal.addEventListener('abort', onAbort);
    try {
      // vscode.lm has no system role: a system turn goes first as a user message.
      const lmMessages = messages.map((m) =>
        m.role === 'assistant' ? vscode.LanguageModelChatMessage.Assistant(m.content) : vscode.LanguageModelChatMessage.User(m.content),
      );
      const response = await this.chat.sendRequest(lmMessages, {}, source.token);
      let output = '';
      for await (const part of response.stream) {
        if (signal.aborted) break;
        if (part instanceof vscode.LanguageModelTextPart) {
          output += part.value;
          yield { type: 'text', text: part.value };
        }
      }
      if (signal.aborted) throw new Error('stopped');
      const [inputTokens, outputTokens] = await Promise.all([
        Promise.all(lmMessages.map((m) => this.chat.countTokens(m))).then((counts) => counts.reduce((a, b) => a + b, 0)),
        this.chat.countTokens(output),
      ]).catch(() => [undefined, undefined]);
      if (inputTokens !== undefined && outputTokens !== undefined) yield { type: 'usage', inputTokens, outputTokens };
      yield { type: 'done', finishReason: null };
    } finally {
      signal.removeEventListener('abort', onAbort);
      source.dispose();
    }
  }
}
