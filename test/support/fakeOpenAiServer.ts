import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A real local server speaking the OpenAI chat completions protocol (streaming), for the client's tests.
 * The answer is deterministic: `Echo: <last user message>`, streamed in several SSE chunks, then a usage
 * chunk (when `stream_options.include_usage` is set) and `data: [DONE]`.
 *
 * Modes (switchable at run time):
 * - `normal`: OpenAI paths (`/v1/chat/completions`, `/v1/models`), `Authorization: Bearer`.
 * - `slow`: like normal, one character per 100 ms (stop-button tests).
 * - `http429` / `http500`: the OpenAI error bodies, 429 with `Retry-After: 7`.
 * - `garbage`: a 200 event stream whose events are not JSON.
 * - `truncated`: the stream stops mid-answer, without a finish reason or `[DONE]`.
 * - `hang`: the request is read and never answered (timeout tests).
 * - `azure`: only Azure paths (`/openai/deployments/{deployment}/chat/completions?api-version=…`),
 *   authenticated by the `api-key` header; OpenAI paths answer 404 as Azure would.
 */
export type FakeOpenAiMode = 'normal' | 'slow' | 'http429' | 'http500' | 'garbage' | 'truncated' | 'hang' | 'azure';

export interface RecordedRequest {
  method: string;
  /** Path and query, as received. */
  url: string;
  headers: IncomingMessage['headers'];
  body: unknown;
  /** The client closed the connection before the answer was complete (stop button, timeout). */
  aborted: boolean;
}

export interface StreamShape {
  /** Write the SSE bytes in slices of this many bytes (splitting lines and UTF-8 characters). 0: one write per event. */
  sliceBytes: number;
  /** Line ending of the event stream. */
  lineEnding: '\n' | '\r\n' | '\r';
  /** Put `: keep-alive` comment lines and an ignored `event:` field between events. */
  comments: boolean;
}

export interface FakeOpenAi {
  /** Base URL including `/v1`, for the OpenAI flavor. */
  url: string;
  /** Origin without a path, for the Azure flavor. */
  origin: string;
  requests: RecordedRequest[];
  setMode(mode: FakeOpenAiMode): void;
  setStreamShape(shape: Partial<StreamShape>): void;
  dispose(): Promise<void>;
}

export const FAKE_MODELS = ['echo-1', 'echo-2'] as const;
const SLOW_INTERVAL_MS = 100;

interface ChatBody {
  model?: unknown;
  messages?: unknown;
  stream?: unknown;
  stream_options?: { include_usage?: unknown };
}

function lastUserMessage(body: ChatBody): string {
  if (!Array.isArray(body.messages)) return '';
  for (let i = body.messages.length - 1; i >= 0; i--) {
    const m: unknown = body.messages[i];
    if (typeof m === 'object' && m !== null && 'role' in m && m.role === 'user' && 'content' in m && typeof m.content === 'string') return m.content;
  }
  return '';
}

function countWords(body: ChatBody): number {
  if (!Array.isArray(body.messages)) return 0;
  let words = 0;
  for (const m of body.messages as unknown[]) {
    if (typeof m === 'object' && m !== null && 'content' in m && typeof m.content === 'string') words += m.content.split(/\s+/).filter((w) => w !== '').length;
  }
  return words;
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

function openAiError(message: string, type: string, code: string | null): unknown {
  return { error: { message, type, param: null, code } };
}

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function startFakeOpenAi(options: { apiKey?: string } = {}): Promise<FakeOpenAi> {
  let mode: FakeOpenAiMode = 'normal';
  let shape: StreamShape = { sliceBytes: 0, lineEnding: '\n', comments: false };
  const requests: RecordedRequest[] = [];
  const created = 1_700_000_000;

  const authorized = (req: IncomingMessage): { ok: true } | { ok: false; provided: string } => {
    if (options.apiKey === undefined) return { ok: true };
    if (mode === 'azure') {
      const provided = req.headers['api-key'];
      return provided === options.apiKey ? { ok: true } : { ok: false, provided: typeof provided === 'string' ? provided : '' };
    }
    const header = req.headers.authorization ?? '';
    const provided = header.startsWith('Bearer ') ? header.slice('Bearer '.length) : header;
    return header === `Bearer ${options.apiKey}` ? { ok: true } : { ok: false, provided };
  };

  const streamAnswer = async (res: ServerResponse, body: ChatBody, model: string): Promise<void> => {
    const id = 'chatcmpl-fake';
    const base = { id, object: 'chat.completion.chunk', created, model, system_fingerprint: 'fp_fake' };
    const answer = `Echo: ${lastUserMessage(body)}`;
    // Several pieces per answer: words with their following space; slow mode streams one character at a time.
    const pieces = mode === 'slow' ? Array.from(answer) : (answer.match(/\S+\s*/g) ?? [answer]);
    const events: string[] = [JSON.stringify({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }] })];
    if (mode === 'garbage') events.push('{"choices": [ {"delta": {"content": "Ec', 'not json at all');
    else {
      for (const piece of pieces) events.push(JSON.stringify({ ...base, choices: [{ index: 0, delta: { content: piece }, logprobs: null, finish_reason: null }] }));
      if (mode !== 'truncated') {
        events.push(JSON.stringify({ ...base, choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }] }));
        if (body.stream_options?.include_usage === true) {
          const prompt = countWords(body);
          events.push(JSON.stringify({ ...base, choices: [], usage: { prompt_tokens: prompt, completion_tokens: pieces.length, total_tokens: prompt + pieces.length } }));
        }
        events.push('[DONE]');
      }
    }

    res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache', Connection: 'keep-alive' });
    res.socket?.setNoDelay(true);
    const nl = shape.lineEnding;
    const frame = (data: string): string => (shape.comments ? `: keep-alive${nl}event: message${nl}id: 1${nl}` : '') + `data: ${data}${nl}${nl}`;
    const write = async (text: string): Promise<boolean> => {
      if (res.destroyed) return false;
      const bytes = Buffer.from(text, 'utf8');
      const size = shape.sliceBytes > 0 ? shape.sliceBytes : bytes.length;
      for (let at = 0; at < bytes.length; at += size) {
        if (res.destroyed) return false;
        res.write(bytes.subarray(at, at + size));
        // A pause between slices makes them separate reads on the client instead of one coalesced read.
        if (shape.sliceBytes > 0) await delay(1);
      }
      return true;
    };
    for (const data of events) {
      if (mode === 'slow') await delay(SLOW_INTERVAL_MS);
      if (!(await write(frame(data)))) return;
    }
    if (mode === 'truncated') {
      // Cut the connection without ending the chunked body: the client sees a network error or an early end.
      res.socket?.destroy();
      return;
    }
    res.end();
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    let body: unknown;
    try {
      body = raw === '' ? undefined : JSON.parse(raw);
    } catch {
      body = raw;
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    const record: RecordedRequest = { method: req.method ?? '', url: `${url.pathname}${url.search}`, headers: req.headers, body, aborted: false };
    requests.push(record);
    res.on('close', () => {
      if (!res.writableFinished) record.aborted = true;
    });

    if (mode === 'hang') return;
    const azurePath = /^\/openai\/deployments\/([^/]+)\/chat\/completions$/.exec(url.pathname);
    const isChat = mode === 'azure' ? azurePath !== null : url.pathname === '/v1/chat/completions';
    const isModels = mode !== 'azure' && url.pathname === '/v1/models';
    if (!isChat && !isModels) {
      sendJson(res, 404, mode === 'azure' ? { error: { code: '404', message: 'Resource not found' } } : openAiError(`Unknown request URL: ${req.method} ${url.pathname}.`, 'invalid_request_error', 'unknown_url'));
      return;
    }
    const auth = authorized(req);
    if (!auth.ok) {
      // Like OpenAI, the message repeats the key it was given: the client must keep it out of its errors.
      sendJson(res, 401, openAiError(`Incorrect API key provided: ${auth.provided}. You can find your API key at https://platform.openai.com/account/api-keys.`, 'invalid_request_error', 'invalid_api_key'));
      return;
    }
    if (isModels) {
      sendJson(res, 200, { object: 'list', data: FAKE_MODELS.map((id) => ({ id, object: 'model', created, owned_by: 'fake' })) });
      return;
    }
    if (mode === 'azure' && url.searchParams.get('api-version') === null) {
      sendJson(res, 404, { error: { code: '404', message: 'Resource not found' } });
      return;
    }
    if (mode === 'http429') {
      sendJson(res, 429, openAiError('Rate limit reached for requests. Please try again in 7s.', 'requests', 'rate_limit_exceeded'), { 'Retry-After': '7' });
      return;
    }
    if (mode === 'http500') {
      sendJson(res, 500, openAiError('The server had an error while processing your request. Sorry about that!', 'server_error', null));
      return;
    }
    const chatBody: ChatBody = typeof body === 'object' && body !== null ? (body as ChatBody) : {};
    const model = mode === 'azure' ? decodeURIComponent(azurePath?.[1] ?? '') : typeof chatBody.model === 'string' ? chatBody.model : '';
    if (!(FAKE_MODELS as readonly string[]).includes(model)) {
      if (mode === 'azure') sendJson(res, 404, { error: { code: 'DeploymentNotFound', message: `The API deployment for this resource does not exist.` } });
      else sendJson(res, 404, openAiError(`The model \`${model}\` does not exist or you do not have access to it.`, 'invalid_request_error', 'model_not_found'));
      return;
    }
    await streamAnswer(res, chatBody, model);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) sendJson(res, 500, openAiError(`fake server failure: ${String(error)}`, 'server_error', null));
      else res.destroy();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;

  return {
    url: `${origin}/v1`,
    origin,
    requests,
    setMode: (next) => {
      mode = next;
    },
    setStreamShape: (next) => {
      shape = { ...shape, ...next };
    },
    dispose: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
