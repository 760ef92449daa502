/** One streamed piece of an answer (the OpenAI-compatible client and vscode.lm both map to it). */
export type ChatChunk =
  | { type: 'text'; text: string }
  | { type: 'usage'; inputTokens: number; outputTokens: number }
  | { type: 'done'; finishReason: string | null };

export interface ChatTurn {
  role: 'user' | 'assistant' | 'system';
  content: string;
}

/** A model the chat can talk to: a `vscode.lm` model or an OpenAI-compatible endpoint. */
export interface ChatModel {
  /** `lm:<vendor>/<id>` or `endpoint:<model>`. */
  readonly id: string;
  readonly label: string;
  /** For the audit entry: `provider` (vendor or endpoint host) and `model`. */
  readonly provider: string;
  readonly model: string;
  stream(messages: readonly ChatTurn[], signal: AbortSignal): AsyncIterable<ChatChunk>;
}
