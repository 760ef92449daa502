import type { ChatChunk, ChatModel, ChatTurn } from '../chat/chatModel.ts';
import { OpenAiCompatibleClient, type OpenAiCompatibleClientOptions } from './openAiCompatibleClient.ts';

/** The configured OpenAI-compatible endpoint (OpenAI, Azure OpenAI, Ollama, LM Studio) as a {@link ChatModel}. */
export class EndpointModel implements ChatModel {
  readonly id: string;
  readonly label: string;
  readonly provider: string;
  readonly model: string;
  private readonly client: OpenAiCompatibleClient;

  constructor(options: OpenAiCompatibleClientOptions) {
    this.client = new OpenAiCompatibleClient(options);
    this.id = `endpoint:${options.model}`;
    this.model = options.model;
    // The endpoint's host names the provider in audit entries (api.openai.com, 127.0.0.1:11434, …).
    this.provider = options.flavor === 'azure' ? 'azure-openai' : new URL(options.baseUrl).host;
    this.label = `${options.model} (${this.provider})`;
  }

  stream(messages: readonly ChatTurn[], signal: AbortSignal): AsyncIterable<ChatChunk> {
    return this.client.stream(messages, { signal });
  }
}
