import { z } from 'zod';
import { causeWithoutSecret, describeNetworkError, retryAfterSeconds } from '../http/httpFailures.ts';
import type { ChatChunk, ChatTurn } from '../chat/chatModel.ts';

/**
 * A streaming chat client for OpenAI-compatible endpoints: OpenAI, Azure OpenAI, Ollama, LM Studio, vLLM.
 * Plain `fetch`, no `vscode` import, so it is unit-tested in Node against a real local server.
 *
 * Protocol: https://platform.openai.com/docs/api-reference/chat/create-chat-completion (streaming) and
 * the Server-Sent Events format of https://html.spec.whatwg.org/multipage/server-sent-events.html.
 */
export interface OpenAiCompatibleClientOptions {
  /**
   * OpenAI flavor: the API root including the version, e.g. `https://api.openai.com/v1` or
   * `http://127.0.0.1:11434/v1` (Ollama). Azure flavor: the resource, e.g. `https://NAME.openai.azure.com`.
   */
  baseUrl: string;
  /** The model id; for Azure the deployment name. May be empty for {@link OpenAiCompatibleClient.listModels} only. */
  model: string;
  /** OpenAI flavor: sent as `Authorization: Bearer`; Azure: as `api-key`. Never put in an error or a log. */
  apiKey?: string;
  /** Request shape. Default `openai`. */
  flavor?: 'openai' | 'azure';
  /** Azure `api-version`. Default `2024-10-21` (the GA version the settings default to). */
  apiVersion?: string;
  /**
   * Longest wait in ms for the response headers and then between two reads of the stream (an idle
   * timeout, not a total one: long answers are fine while tokens keep coming). Also the total timeout of
   * `listModels`. Default 120 000: a local server may load a large model from disk before its first token.
   */
  timeoutMs?: number;
  /** For tests: the `fetch` to use. Default: the global one. */
  fetch?: typeof fetch;
}

/** Stable codes of {@link ModelError}; callers branch on these, never on the message. */
export type ModelErrorCode =
  | 'http_401'
  | 'http_404'
  | 'http_429'
  | 'http_4xx'
  | 'http_5xx'
  | 'timeout'
  | 'network'
  | 'bad_response'
  | 'aborted';

/** Any failure of a model call. The message is for people and never contains the API key. */
export class ModelError extends Error {
  readonly code: ModelErrorCode;
  /** The HTTP status when the endpoint answered with one. */
  readonly status: number | undefined;
  /** From a 429's `Retry-After` header, in seconds, when the server sent a usable one. */
  readonly retryAfterSeconds: number | undefined;
  constructor(code: ModelErrorCode, message: string, options: { status?: number; retryAfterSeconds?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ModelError';
    this.code = code;
    this.status = options.status;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

const DEFAULT_TIMEOUT_MS = 120_000;
const DEFAULT_AZURE_API_VERSION = '2024-10-21';
/** Error bodies are a few hundred bytes; a proxy's HTML page is not worth reading whole. */
const MAX_ERROR_BODY_BYTES = 64 * 1024;
/** A non-streamed answer or a model list: generous, but bounded. */
const MAX_JSON_BODY_BYTES = 8 * 1024 * 1024;
/** One SSE event carries a few tokens; one far larger than this is not a chat stream. */
const MAX_EVENT_CHARS = 1024 * 1024;
const SNIPPET_CHARS = 300;

/** A usage object we can use; a malformed one is ignored rather than failing an answer that arrived. */
const Usage = z
  .object({ prompt_tokens: z.number().int().nonnegative(), completion_tokens: z.number().int().nonnegative() })
  .nullish()
  .catch(null);

/** Servers put errors as `{error:{message}}` (OpenAI, Azure, LM Studio) or `{error:"…"}` (Ollama's native API). */
const ErrorField = z.union([z.object({ message: z.string() }), z.string()]);
const ErrorBody = z.object({ error: ErrorField });

/** One streamed `chat.completion.chunk`; z.object drops fields we do not use (logprobs, tool calls, filters). */
const StreamChunk = z.object({
  choices: z
    .array(
      z.object({
        index: z.number().int().nonnegative().optional(),
        delta: z.object({ content: z.string().nullish(), refusal: z.string().nullish() }).nullish(),
        finish_reason: z.string().nullish(),
      }),
    )
    .nullish(),
  usage: Usage,
  error: ErrorField.optional(),
});

/** A whole `chat.completion`, for servers or proxies that ignore `stream: true`. */
const Completion = z.object({
  choices: z.array(
    z.object({
      index: z.number().int().nonnegative().optional(),
      message: z.object({ content: z.string().nullish(), refusal: z.string().nullish() }).nullish(),
      finish_reason: z.string().nullish(),
    }),
  ),
  usage: Usage,
});

const ModelList = z.object({ data: z.array(z.object({ id: z.string().min(1).max(512) })).max(10_000) });

/**
 * An incremental Server-Sent Events decoder: feed it decoded text as it arrives, get back the `data` of
 * each complete event. Lines end in CRLF, LF or CR (a CR at the end of one read may pair with an LF at the
 * start of the next), `:` starts a comment, multi-line data is joined with `\n`, other fields are ignored.
 */
class SseDecoder {
  #line = '';
  #data: string[] = [];
  #dataChars = 0;
  #pendingCr = false;
  #started = false;

  push(text: string): string[] {
    const events: string[] = [];
    let input = text;
    if (!this.#started && input.length > 0) {
      this.#started = true;
      // The spec strips one leading byte-order mark from the stream.
      if (input.charCodeAt(0) === 0xfeff) input = input.slice(1);
    }
    let start = 0;
    if (this.#pendingCr && input.charCodeAt(0) === 10) start = 1;
    if (input.length > 0) this.#pendingCr = false;
    for (let i = start; i < input.length; i++) {
      const c = input.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      this.#takeLine(this.#line + input.slice(start, i), events);
      this.#line = '';
      if (c === 13) {
        if (i + 1 === input.length) this.#pendingCr = true;
        else if (input.charCodeAt(i + 1) === 10) i++;
      }
      start = i + 1;
    }
    this.#line += input.slice(start);
    if (this.#line.length + this.#dataChars > MAX_EVENT_CHARS) {
      throw new ModelError('bad_response', `The endpoint sent a stream event larger than ${MAX_EVENT_CHARS} characters; it is not a chat stream.`);
    }
    return events;
  }

  /** At the end of the stream: an unterminated last line and event still count (lenient, like most clients). */
  end(): string[] {
    const events: string[] = [];
    if (this.#line !== '') this.#takeLine(this.#line, events);
    this.#line = '';
    this.#takeLine('', events);
    return events;
  }

  #takeLine(line: string, events: string[]): void {
    if (line === '') {
      if (this.#data.length > 0) events.push(this.#data.join('\n'));
      this.#data = [];
      this.#dataChars = 0;
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    if (field !== 'data') return;
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    this.#data.push(value);
    this.#dataChars += value.length + 1;
    if (this.#dataChars > MAX_EVENT_CHARS) {
      throw new ModelError('bad_response', `The endpoint sent a stream event larger than ${MAX_EVENT_CHARS} characters; it is not a chat stream.`);
    }
  }
}

/** Reads at most `limit` bytes of a body; `truncated` says there was more (which is then discarded). */
async function readBounded(body: ReadableStream<Uint8Array> | null, limit: number): Promise<{ text: string; truncated: boolean }> {
  if (body === null) return { text: '', truncated: false };
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (size + value.byteLength > limit) {
      text += decoder.decode(value.subarray(0, limit - size));
      await reader.cancel();
      return { text, truncated: true };
    }
    size += value.byteLength;
    text += decoder.decode(value, { stream: true });
  }
  return { text: text + decoder.decode(), truncated: false };
}

/** One request's abort plumbing: the caller's signal, our (idle) timeout, and which of them fired. */
class CallControl {
  readonly controller = new AbortController();
  #timedOut = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #timeoutMs: number;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort = (): void => this.controller.abort();

  constructor(timeoutMs: number, signal: AbortSignal | undefined) {
    this.#timeoutMs = timeoutMs;
    this.#signal = signal;
    signal?.addEventListener('abort', this.#onAbort, { once: true });
    this.arm();
  }

  get timedOut(): boolean {
    return this.#timedOut;
  }

  get callerAborted(): boolean {
    return this.#signal?.aborted === true;
  }

  /** (Re)starts the timeout: called before the request and before each read of the stream. */
  arm(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timedOut = true;
      this.controller.abort();
    }, this.#timeoutMs);
  }

  dispose(): void {
    clearTimeout(this.#timer);
    this.#signal?.removeEventListener('abort', this.#onAbort);
  }
}

/** A chat client for one OpenAI-compatible endpoint and model. Every failure is a {@link ModelError}. */
export class OpenAiCompatibleClient {
  readonly flavor: 'openai' | 'azure';
  readonly model: string;
  readonly #base: string;
  readonly #host: string;
  readonly #apiKey: string | undefined;
  readonly #apiVersion: string;
  readonly #timeoutMs: number;
  readonly #fetch: typeof fetch;

  constructor(options: OpenAiCompatibleClientOptions) {
    let base: URL;
    try {
      base = new URL(options.baseUrl.trim());
    } catch {
      throw new TypeError('OpenAiCompatibleClient: baseUrl must be an absolute http(s) URL');
    }
    if (base.protocol !== 'https:' && base.protocol !== 'http:') throw new TypeError('OpenAiCompatibleClient: baseUrl must be an http(s) URL');
    // fetch refuses URLs with credentials, and a key there would end up in messages: the key has its own option.
    if (base.username !== '' || base.password !== '') throw new TypeError('OpenAiCompatibleClient: baseUrl must not contain credentials; use apiKey');
    if (base.search !== '' || base.hash !== '') throw new TypeError('OpenAiCompatibleClient: baseUrl must not have a query or fragment');
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new RangeError('OpenAiCompatibleClient: timeoutMs must be a positive number of milliseconds');
    this.#base = `${base.origin}${base.pathname.replace(/\/+$/, '')}`;
    this.#host = base.host;
    this.flavor = options.flavor ?? 'openai';
    this.model = options.model.trim();
    const key = options.apiKey?.trim();
    this.#apiKey = key === undefined || key === '' ? undefined : key;
    const version = options.apiVersion?.trim();
    this.#apiVersion = version === undefined || version === '' ? DEFAULT_AZURE_API_VERSION : version;
    this.#timeoutMs = timeoutMs;
    this.#fetch = options.fetch ?? globalThis.fetch;
  }

  /**
   * Streams one answer: text pieces as they arrive, then one `usage` (when the server reports it), then
   * `done`. Aborting `signal` (the stop button) cancels the request at once and rejects with code
   * `aborted`; breaking out of the loop also closes the connection.
   */
  async *stream(messages: readonly ChatTurn[], options: { signal?: AbortSignal } = {}): AsyncIterable<ChatChunk> {
    if (this.model === '') throw new TypeError('OpenAiCompatibleClient: a model is required to chat');
    const { signal } = options;
    if (signal?.aborted === true) throw new ModelError('aborted', 'The request was stopped before it was sent.');
    const call = new CallControl(this.#timeoutMs, signal);
    let finished = false;
    try {
      const response = await this.#send(call, this.#chatUrl(), {
        method: 'POST',
        headers: { ...this.#authHeaders(), 'Content-Type': 'application/json', Accept: 'text/event-stream' },
        body: JSON.stringify({
          model: this.model,
          messages: messages.map(({ role, content }) => ({ role, content })),
          stream: true,
          // Without this OpenAI sends no token counts when streaming; servers that do not know it ignore it.
          stream_options: { include_usage: true },
        }),
      });
      const type = response.headers.get('content-type') ?? '';
      if (/\bjson\b/i.test(type)) {
        // Some proxies and older servers ignore `stream: true` and answer with one whole completion.
        yield* this.#whole(response, call);
        finished = true;
        return;
      }
      if (/^\s*text\/html/i.test(type)) {
        const { text } = await this.#read(call, () => readBounded(response.body, MAX_ERROR_BODY_BYTES), response.status);
        throw this.#error('bad_response', `The model endpoint at ${this.#host} answered with an HTML page, not a stream; a proxy may be intercepting the call: ${this.#snippet(text)}`, { status: response.status });
      }
      if (response.body === null) throw this.#error('bad_response', `The model endpoint at ${this.#host} answered without a body.`, { status: response.status });

      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      const sse = new SseDecoder();
      let finishReason: string | null = null;
      let usage: { inputTokens: number; outputTokens: number } | undefined;
      const handle = (data: string, atEnd: boolean): ChatChunk[] | 'done' => {
        if (data.trim() === '[DONE]') return 'done';
        const chunk = this.#parseChunk(data, atEnd, response.status);
        if (chunk.error !== undefined) {
          const message = typeof chunk.error === 'string' ? chunk.error : chunk.error.message;
          throw this.#error('bad_response', `The model endpoint at ${this.#host} reported an error in the stream: ${this.#snippet(message)}`, { status: response.status });
        }
        if (chunk.usage !== null && chunk.usage !== undefined) usage = { inputTokens: chunk.usage.prompt_tokens, outputTokens: chunk.usage.completion_tokens };
        const out: ChatChunk[] = [];
        for (const choice of chunk.choices ?? []) {
          // We never ask for n > 1; a server that still sends other choices must not interleave them.
          if (choice.index !== undefined && choice.index !== 0) continue;
          const text = (choice.delta?.content ?? '') + (choice.delta?.refusal ?? '');
          if (text !== '') out.push({ type: 'text', text });
          if (choice.finish_reason !== null && choice.finish_reason !== undefined) finishReason = choice.finish_reason;
        }
        return out;
      };
      const ending = (): ChatChunk[] => [...(usage === undefined ? [] : [{ type: 'usage' as const, ...usage }]), { type: 'done', finishReason }];

      let eof = false;
      try {
        for (;;) {
          call.arm();
          const { done, value } = await this.#read(call, () => reader.read(), response.status);
          eof = done;
          const events = done ? [...sse.push(decoder.decode()), ...sse.end()] : sse.push(decoder.decode(value, { stream: true }));
          for (const data of events) {
            const result = handle(data, done);
            if (result === 'done') {
              finished = true;
              yield* ending();
              return;
            }
            yield* result;
          }
          if (done) break;
        }
        // No `[DONE]`: a finish reason still means the answer is whole (some servers omit the marker).
        if (finishReason === null) {
          throw this.#error('network', `The connection to the model endpoint at ${this.#host} closed before the answer was complete.`, { status: response.status });
        }
        finished = true;
        yield* ending();
      } finally {
        // Stops the server generating tokens nobody reads (stop button, consumer broke out, error).
        if (!finished) call.controller.abort();
        // After `[DONE]` nothing more is expected: let the connection go rather than wait for its end.
        else if (!eof) void reader.cancel().catch(() => undefined);
      }
    } finally {
      if (!finished) call.controller.abort();
      call.dispose();
    }
  }

  /**
   * Model ids for the settings UI (`GET {baseUrl}/models`). Azure has no data-plane list of deployments
   * that an `api-key` may read, so the Azure flavor returns the configured deployment.
   */
  async listModels(options: { signal?: AbortSignal } = {}): Promise<string[]> {
    if (this.flavor === 'azure') return this.model === '' ? [] : [this.model];
    if (options.signal?.aborted === true) throw new ModelError('aborted', 'The request was stopped before it was sent.');
    const call = new CallControl(this.#timeoutMs, options.signal);
    try {
      const response = await this.#send(call, `${this.#base}/models`, { method: 'GET', headers: { ...this.#authHeaders(), Accept: 'application/json' } });
      const { text, truncated } = await this.#read(call, () => readBounded(response.body, MAX_JSON_BODY_BYTES), response.status);
      if (truncated) throw this.#error('bad_response', `The model list from ${this.#host} is larger than ${MAX_JSON_BODY_BYTES} bytes.`, { status: response.status });
      const parsed = ModelList.safeParse(this.#json(text, response.status, 'model list'));
      if (!parsed.success) throw this.#error('bad_response', `The model list from ${this.#host} does not have the expected shape: ${describeIssues(parsed.error)}`, { status: response.status });
      return [...new Set(parsed.data.data.map((m) => m.id))];
    } finally {
      call.dispose();
    }
  }

  #chatUrl(): string {
    if (this.flavor === 'openai') return `${this.#base}/chat/completions`;
    // https://learn.microsoft.com/azure/ai-services/openai/reference#chat-completions
    return `${this.#base}/openai/deployments/${encodeURIComponent(this.model)}/chat/completions?api-version=${encodeURIComponent(this.#apiVersion)}`;
  }

  #authHeaders(): Record<string, string> {
    if (this.#apiKey === undefined) return {};
    return this.flavor === 'azure' ? { 'api-key': this.#apiKey } : { Authorization: `Bearer ${this.#apiKey}` };
  }

  /** Sends a request; a non-2xx status becomes the matching {@link ModelError}. */
  async #send(call: CallControl, url: string, init: RequestInit): Promise<Response> {
    let response: Response;
    try {
      // A redirect is never part of these APIs; following one could hand the key (`api-key`) to another host.
      response = await this.#fetch(url, { ...init, signal: call.controller.signal, redirect: 'manual' });
    } catch (error: unknown) {
      throw this.#failure(call, error, `Could not reach the model endpoint at ${this.#host}`);
    }
    if (response.ok) return response;
    const { text } = await this.#read(call, () => readBounded(response.body, MAX_ERROR_BODY_BYTES), response.status).catch(() => ({ text: '' }));
    throw this.#httpError(response, text);
  }

  /** Runs one read of a body, turning a rejection into timeout / aborted / network. */
  async #read<T>(call: CallControl, read: () => Promise<T>, status: number): Promise<T> {
    try {
      return await read();
    } catch (error: unknown) {
      if (error instanceof ModelError) throw error;
      throw this.#failure(call, error, `The connection to the model endpoint at ${this.#host} failed while reading the answer`, status);
    }
  }

  /** Which abort fired decides the code: our timeout is the endpoint's failure, the caller's stop is not. */
  #failure(call: CallControl, error: unknown, what: string, status?: number): ModelError {
    const extra = status === undefined ? {} : { status };
    if (call.timedOut) return this.#error('timeout', `The model endpoint at ${this.#host} did not answer within ${this.#timeoutMs} ms.`, extra);
    if (call.callerAborted) return this.#error('aborted', 'The request was stopped.', extra);
    return this.#error('network', `${what}: ${describeNetworkError(error)}`, { ...extra, cause: this.#safeCause(error) });
  }

  #httpError(response: Response, body: string): ModelError {
    const status = response.status;
    const serverMessage = this.#serverMessage(body);
    const detail = serverMessage === '' ? '' : `: ${serverMessage}`;
    const where = `The model endpoint at ${this.#host}`;
    if (status === 401) {
      return this.#error('http_401', `${where} rejected the API key (HTTP 401)${detail}. Set the key with "AI Audit Trail: Set Model Endpoint Key".`, { status });
    }
    if (status === 404) {
      const hint =
        this.flavor === 'azure'
          ? 'check the resource URL, the deployment name and the api-version'
          : 'check the base URL (OpenAI-compatible servers usually end in /v1) and the model name';
      return this.#error('http_404', `${where} answered 404 Not Found (${hint})${detail}`, { status });
    }
    if (status === 429) {
      const retryAfter = retryAfterSeconds(response.headers.get('retry-after'));
      const when = retryAfter === undefined ? '' : ` Retry after ${retryAfter} s.`;
      return this.#error('http_429', `${where} is rate limiting requests or the quota is used up (HTTP 429)${detail}.${when}`, {
        status,
        ...(retryAfter === undefined ? {} : { retryAfterSeconds: retryAfter }),
      });
    }
    if (status >= 500) return this.#error('http_5xx', `${where} failed (HTTP ${status})${detail}`, { status });
    if (status >= 300 && status < 400) {
      const location = response.headers.get('location');
      const to = location === null ? '' : ` to ${this.#originOf(location)}`;
      return this.#error('bad_response', `${where} answered with a redirect (HTTP ${status})${to}; set the base URL to the final address.`, { status });
    }
    return this.#error('http_4xx', `${where} refused the request (HTTP ${status})${detail}`, { status });
  }

  /** The server's own words: `error.message` of a JSON error, else the start of the body. */
  #serverMessage(body: string): string {
    if (body.trim() === '') return '';
    try {
      const parsed = ErrorBody.safeParse(JSON.parse(body));
      if (parsed.success) return this.#snippet(typeof parsed.data.error === 'string' ? parsed.data.error : parsed.data.error.message);
    } catch {
      // Not JSON: fall through to a snippet of the text.
    }
    return this.#snippet(body);
  }

  async *#whole(response: Response, call: CallControl): AsyncIterable<ChatChunk> {
    const { text, truncated } = await this.#read(call, () => readBounded(response.body, MAX_JSON_BODY_BYTES), response.status);
    if (truncated) throw this.#error('bad_response', `The answer from ${this.#host} is larger than ${MAX_JSON_BODY_BYTES} bytes.`, { status: response.status });
    const json = this.#json(text, response.status, 'answer');
    const error = ErrorBody.safeParse(json);
    if (error.success) {
      const message = typeof error.data.error === 'string' ? error.data.error : error.data.error.message;
      throw this.#error('bad_response', `The model endpoint at ${this.#host} reported an error: ${this.#snippet(message)}`, { status: response.status });
    }
    const parsed = Completion.safeParse(json);
    if (!parsed.success) throw this.#error('bad_response', `The answer from ${this.#host} does not have the expected shape: ${describeIssues(parsed.error)}`, { status: response.status });
    const choice = parsed.data.choices.find((c) => c.index === undefined || c.index === 0);
    const content = (choice?.message?.content ?? '') + (choice?.message?.refusal ?? '');
    if (content !== '') yield { type: 'text', text: content };
    const usage = parsed.data.usage;
    if (usage !== null && usage !== undefined) yield { type: 'usage', inputTokens: usage.prompt_tokens, outputTokens: usage.completion_tokens };
    yield { type: 'done', finishReason: choice?.finish_reason ?? null };
  }

  #parseChunk(data: string, atEnd: boolean, status: number): z.infer<typeof StreamChunk> {
    let json: unknown;
    try {
      json = JSON.parse(data);
    } catch {
      // An unparsable event in the middle of the stream is garbage; at its very end it was cut off.
      if (atEnd) throw this.#error('network', `The connection to the model endpoint at ${this.#host} closed in the middle of an event.`, { status });
      throw this.#error('bad_response', `The model endpoint at ${this.#host} sent a stream event that is not JSON: ${this.#snippet(data)}`, { status });
    }
    const parsed = StreamChunk.safeParse(json);
    if (!parsed.success) throw this.#error('bad_response', `The model endpoint at ${this.#host} sent a stream event of an unexpected shape: ${describeIssues(parsed.error)}`, { status });
    return parsed.data;
  }

  #json(text: string, status: number, what: string): unknown {
    try {
      return JSON.parse(text);
    } catch {
      throw this.#error('bad_response', `The ${what} from ${this.#host} is not JSON; a proxy may be intercepting the call: ${this.#snippet(text)}`, { status });
    }
  }

  #error(code: ModelErrorCode, message: string, options: { status?: number; retryAfterSeconds?: number; cause?: unknown } = {}): ModelError {
    return new ModelError(code, this.#redact(message), options);
  }

  /** The start of a text for a message, on one line and without the key (servers echo keys in 401s). */
  #snippet(text: string): string {
    const line = this.#redact(text).replace(/\s+/g, ' ').trim();
    return line.length > SNIPPET_CHARS ? `${line.slice(0, SNIPPET_CHARS)}…` : line;
  }

  #redact(text: string): string {
    return this.#apiKey === undefined ? text : text.split(this.#apiKey).join('[redacted]');
  }

  #originOf(location: string): string {
    try {
      return new URL(location, this.#base).origin;
    } catch {
      return 'an invalid address';
    }
  }

  /** The error as a cause, unless anything in its chain mentions the key (then it is left out). */
  #safeCause(error: unknown): unknown {
    return causeWithoutSecret(error, this.#apiKey);
  }
}

function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((i) => `${i.path.length === 0 ? '(root)' : i.path.join('.')}: ${i.message}`)
    .join('; ');
}
