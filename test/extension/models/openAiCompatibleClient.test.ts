import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, test } from 'node:test';
import type { ChatChunk, ChatTurn } from '../../../extension/chat/chatModel.ts';
import { ModelError, OpenAiCompatibleClient, type OpenAiCompatibleClientOptions } from '../../../extension/models/openAiCompatibleClient.ts';
import { startFakeOpenAi, type FakeOpenAi } from '../../support/fakeOpenAiServer.ts';

const KEY = 'sk-test-0123456789abcdefSECRET';
const hello: ChatTurn[] = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'hello there, model' },
];

async function collect(stream: AsyncIterable<ChatChunk>): Promise<ChatChunk[]> {
  const out: ChatChunk[] = [];
  for await (const chunk of stream) out.push(chunk);
  return out;
}

function textOf(chunks: readonly ChatChunk[]): string {
  return chunks.map((c) => (c.type === 'text' ? c.text : '')).join('');
}

async function rejection(promise: Promise<unknown>): Promise<ModelError> {
  try {
    await promise;
  } catch (error: unknown) {
    assert.ok(error instanceof ModelError, `expected a ModelError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected a rejection');
}

/** The error, its message and its cause chain, as text, to check that the key is nowhere in it. */
function everythingIn(error: ModelError): string {
  const parts: string[] = [error.message, JSON.stringify(error)];
  let cause: unknown = error.cause;
  for (let i = 0; i < 5 && cause !== undefined; i++) {
    parts.push(cause instanceof Error ? `${cause.message} ${cause.stack ?? ''}` : String(cause));
    cause = cause instanceof Error ? cause.cause : undefined;
  }
  return parts.join('\n');
}

/** A `fetch` that answers with the given bytes, delivered in the given pieces (one read each). */
function fetchWithBody(pieces: readonly Uint8Array[], init: ResponseInit = { headers: { 'content-type': 'text/event-stream' } }): typeof fetch {
  return async () =>
    new Response(
      new ReadableStream<Uint8Array>({
        start(controller) {
          for (const piece of pieces) controller.enqueue(piece);
          controller.close();
        },
      }),
      init,
    );
}

const sse = (events: readonly unknown[], nl = '\n'): string =>
  events.map((e) => `data: ${typeof e === 'string' ? e : JSON.stringify(e)}${nl}${nl}`).join('');
const delta = (content: string, finish: string | null = null) => ({ choices: [{ index: 0, delta: { content }, finish_reason: finish }] });

describe('OpenAiCompatibleClient against a fake OpenAI server', () => {
  let server: FakeOpenAi;
  const client = (options: Partial<OpenAiCompatibleClientOptions> = {}) =>
    new OpenAiCompatibleClient({ baseUrl: server.url, model: 'echo-1', apiKey: KEY, ...options });

  before(async () => {
    server = await startFakeOpenAi({ apiKey: KEY });
  });
  after(() => server.dispose());
  beforeEach(() => {
    server.setMode('normal');
    server.setStreamShape({ sliceBytes: 0, lineEnding: '\n', comments: false });
    server.requests.length = 0;
  });

  test('streams the answer as text pieces, then usage, then done; sends the OpenAI request shape', async () => {
    const chunks = await collect(client().stream(hello));
    assert.equal(textOf(chunks), 'Echo: hello there, model');
    assert.ok(chunks.filter((c) => c.type === 'text').length >= 3, 'the answer arrives in several pieces');
    assert.deepEqual(chunks.slice(-2), [
      { type: 'usage', inputTokens: 6, outputTokens: 4 },
      { type: 'done', finishReason: 'stop' },
    ]);
    const [request] = server.requests;
    assert.ok(request !== undefined);
    assert.equal(request.method, 'POST');
    assert.equal(request.url, '/v1/chat/completions');
    assert.equal(request.headers.authorization, `Bearer ${KEY}`);
    assert.equal(request.headers['api-key'], undefined);
    assert.deepEqual(request.body, { model: 'echo-1', messages: hello, stream: true, stream_options: { include_usage: true } });
  });

  test('no Authorization header without a key (local servers such as Ollama)', async () => {
    const open = await startFakeOpenAi();
    try {
      const chunks = await collect(new OpenAiCompatibleClient({ baseUrl: `${open.url}/`, model: 'echo-2' }).stream(hello));
      assert.equal(textOf(chunks), 'Echo: hello there, model');
      assert.equal(open.requests[0]?.headers.authorization, undefined);
      assert.equal(open.requests[0]?.url, '/v1/chat/completions', 'a trailing slash on the base URL is not doubled');
    } finally {
      await open.dispose();
    }
  });

  for (const [sliceBytes, lineEnding] of [
    [1, '\r\n'],
    [3, '\n'],
    [7, '\r\n'],
    [2, '\r'],
    [5, '\r'],
  ] as const) {
    test(`reassembles a stream written in ${sliceBytes}-byte slices with ${JSON.stringify(lineEnding)} line endings, comments and UTF-8 split across reads`, async () => {
      server.setStreamShape({ sliceBytes, lineEnding, comments: true });
      const message: ChatTurn[] = [{ role: 'user', content: 'héllo wörld — 🌍 ünïcödé 日本語' }];
      const chunks = await collect(client().stream(message));
      assert.equal(textOf(chunks), 'Echo: héllo wörld — 🌍 ünïcödé 日本語');
      assert.deepEqual(chunks.at(-1), { type: 'done', finishReason: 'stop' });
      assert.equal(chunks.at(-2)?.type, 'usage');
    });
  }

  test('stop button: aborting mid-stream rejects with `aborted` at once and the server sees the connection close', async () => {
    server.setMode('slow');
    const controller = new AbortController();
    const seen: string[] = [];
    const error = await rejection(
      (async () => {
        for await (const chunk of client().stream(hello, { signal: controller.signal })) {
          if (chunk.type !== 'text') continue;
          seen.push(chunk.text);
          if (seen.length === 2) {
            controller.abort();
          }
        }
      })(),
    );
    assert.equal(error.code, 'aborted');
    // No chunk after the abort reached the loop: the stream ended at once, not at the next chunk.
    assert.deepEqual(seen, ['E', 'c']);
    await waitFor(() => server.requests[0]?.aborted === true);
  });

  test('breaking out of the loop also closes the connection', async () => {
    server.setMode('slow');
    for await (const chunk of client().stream(hello)) {
      if (chunk.type === 'text') break;
    }
    await waitFor(() => server.requests[0]?.aborted === true);
  });

  test('an already aborted signal sends nothing', async () => {
    const controller = new AbortController();
    controller.abort();
    const error = await rejection(collect(client().stream(hello, { signal: controller.signal })));
    assert.equal(error.code, 'aborted');
    assert.equal(server.requests.length, 0);
  });

  test('401: code http_401, the server message, and never the key (the server echoes it)', async () => {
    const error = await rejection(collect(client({ apiKey: `${KEY}-wrong` }).stream(hello)));
    assert.equal(error.code, 'http_401');
    assert.equal(error.status, 401);
    assert.match(error.message, /Incorrect API key provided: \[redacted\]/);
    assert.ok(!everythingIn(error).includes(KEY), error.message);
  });

  test('404 for an unknown model: code http_404 with the server message and a hint', async () => {
    const error = await rejection(collect(client({ model: 'gpt-nope' }).stream(hello)));
    assert.equal(error.code, 'http_404');
    assert.equal(error.status, 404);
    assert.match(error.message, /The model `gpt-nope` does not exist/);
    assert.match(error.message, /base URL/);
  });

  test('404 for a base URL without /v1', async () => {
    const error = await rejection(collect(client({ baseUrl: server.origin }).stream(hello)));
    assert.equal(error.code, 'http_404');
    assert.match(error.message, /usually end in \/v1/);
  });

  test('429: code http_429 with Retry-After and the server message', async () => {
    server.setMode('http429');
    const error = await rejection(collect(client().stream(hello)));
    assert.equal(error.code, 'http_429');
    assert.equal(error.status, 429);
    assert.equal(error.retryAfterSeconds, 7);
    assert.match(error.message, /Rate limit reached/);
    assert.match(error.message, /Retry after 7 s/);
  });

  test('500: code http_5xx', async () => {
    server.setMode('http500');
    const error = await rejection(collect(client().stream(hello)));
    assert.equal(error.code, 'http_5xx');
    assert.equal(error.status, 500);
    assert.match(error.message, /The server had an error/);
  });

  test('invalid JSON in the stream: code bad_response', async () => {
    server.setMode('garbage');
    const error = await rejection(collect(client().stream(hello)));
    assert.equal(error.code, 'bad_response');
    assert.match(error.message, /not JSON/);
  });

  test('a stream cut off before the end: code network', async () => {
    server.setMode('truncated');
    const error = await rejection(collect(client().stream(hello)));
    assert.equal(error.code, 'network');
  });

  test('no answer within timeoutMs: code timeout', async () => {
    server.setMode('hang');
    const error = await rejection(collect(client({ timeoutMs: 150 }).stream(hello)));
    assert.equal(error.code, 'timeout');
    assert.match(error.message, /150 ms/);
  });

  test('the timeout is between reads, not for the whole answer', async () => {
    server.setMode('slow');
    const chunks = await collect(client({ timeoutMs: 400 }).stream([{ role: 'user', content: 'slowly' }]));
    assert.equal(textOf(chunks), 'Echo: slowly', 'over a second in total, 100 ms between chunks');
  });

  test('nothing listening: code network, with the reason', async () => {
    const closed = createServer();
    closed.listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const { port } = closed.address() as AddressInfo;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const error = await rejection(collect(client({ baseUrl: `http://127.0.0.1:${port}/v1` }).stream(hello)));
    assert.equal(error.code, 'network');
    assert.match(error.message, /ECONNREFUSED/);
    assert.ok(!everythingIn(error).includes(KEY));
  });

  test('Azure flavor: deployment path, api-version query, api-key header', async () => {
    server.setMode('azure');
    const azure = new OpenAiCompatibleClient({ baseUrl: server.origin, model: 'echo-2', apiKey: KEY, flavor: 'azure', apiVersion: '2024-10-21' });
    const chunks = await collect(azure.stream(hello));
    assert.equal(textOf(chunks), 'Echo: hello there, model');
    const [request] = server.requests;
    assert.equal(request?.url, '/openai/deployments/echo-2/chat/completions?api-version=2024-10-21');
    assert.equal(request?.headers['api-key'], KEY);
    assert.equal(request?.headers.authorization, undefined);
    assert.deepEqual(await azure.listModels(), ['echo-2'], 'Azure: the configured deployment');
  });

  test('Azure flavor: unknown deployment is http_404 with an Azure hint; a wrong key is http_401 without the key', async () => {
    server.setMode('azure');
    const missing = await rejection(collect(new OpenAiCompatibleClient({ baseUrl: server.origin, model: 'gpt-4o', apiKey: KEY, flavor: 'azure' }).stream(hello)));
    assert.equal(missing.code, 'http_404');
    assert.match(missing.message, /deployment name/);
    assert.match(server.requests[0]?.url ?? '', /api-version=2024-10-21$/, 'the default api-version');
    const wrongKey = `${KEY}-azure-wrong`;
    const denied = await rejection(collect(new OpenAiCompatibleClient({ baseUrl: server.origin, model: 'echo-1', apiKey: wrongKey, flavor: 'azure' }).stream(hello)));
    assert.equal(denied.code, 'http_401');
    assert.ok(!everythingIn(denied).includes(wrongKey));
  });

  test('listModels: GET /models with the key', async () => {
    assert.deepEqual(await client({ model: '' }).listModels(), ['echo-1', 'echo-2']);
    assert.equal(server.requests[0]?.method, 'GET');
    assert.equal(server.requests[0]?.url, '/v1/models');
    assert.equal(server.requests[0]?.headers.authorization, `Bearer ${KEY}`);
    const error = await rejection(client({ apiKey: 'sk-other-key-1234567' }).listModels());
    assert.equal(error.code, 'http_401');
    assert.ok(!error.message.includes('sk-other-key-1234567'));
  });
});

describe('OpenAiCompatibleClient stream parsing (injected fetch)', () => {
  const body = sse([
    { id: 'x', choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }], unknown_field: { nested: true } },
    delta('Grüße '),
    delta('aus 🌍'),
    { choices: [{ index: 0, delta: {}, finish_reason: 'length' }] },
    { choices: [], usage: { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 } },
    '[DONE]',
  ]);
  const bytes = new TextEncoder().encode(body);
  const expected: ChatChunk[] = [
    { type: 'text', text: 'Grüße ' },
    { type: 'text', text: 'aus 🌍' },
    { type: 'usage', inputTokens: 12, outputTokens: 3 },
    { type: 'done', finishReason: 'length' },
  ];

  test('the same chunks whatever byte boundary splits the stream', async () => {
    for (let cut = 0; cut <= bytes.length; cut++) {
      const c = new OpenAiCompatibleClient({ baseUrl: 'http://model.test/v1', model: 'm', fetch: fetchWithBody([bytes.subarray(0, cut), bytes.subarray(cut)]) });
      assert.deepEqual(await collect(c.stream(hello)), expected, `split at byte ${cut}`);
    }
  });

  test('the same chunks when every byte is its own read, with CRLF', async () => {
    const crlf = new TextEncoder().encode(body.replaceAll('\n', '\r\n'));
    const pieces = Array.from(crlf, (b) => Uint8Array.of(b));
    const c = new OpenAiCompatibleClient({ baseUrl: 'http://model.test/v1', model: 'm', fetch: fetchWithBody(pieces) });
    assert.deepEqual(await collect(c.stream(hello)), expected);
  });

  test('multi-line data, comments, other fields and a missing final blank line', async () => {
    const text = ': hello\r\nevent: message\r\nid: 7\r\nretry: 10\r\ndata: {"choices":[{"delta":\r\ndata: {"content":"a"}}]}\r\n\r\ndata:{"choices":[{"delta":{"content":"b"},"finish_reason":"stop"}]}\n\ndata: [DONE]';
    const c = new OpenAiCompatibleClient({ baseUrl: 'http://model.test/v1', model: 'm', fetch: fetchWithBody([new TextEncoder().encode(text)]) });
    assert.deepEqual(await collect(c.stream(hello)), [
      { type: 'text', text: 'a' },
      { type: 'text', text: 'b' },
      { type: 'done', finishReason: 'stop' },
    ]);
  });

  test('a stream without [DONE] is complete when it carried a finish reason', async () => {
    const c = new OpenAiCompatibleClient({ baseUrl: 'http://model.test/v1', model: 'm', fetch: fetchWithBody([new TextEncoder().encode(sse([delta('x', 'stop')]))]) });
    assert.deepEqual(await collect(c.stream(hello)), [
      { type: 'text', text: 'x' },
      { type: 'done', finishReason: 'stop' },
    ]);
  });

  test('a chunk of the wrong shape is bad_response; an error event carries its message', async () => {
    const wrong = new OpenAiCompatibleClient({ baseUrl: 'http://model.test/v1', model: 'm', fetch: fetchWithBody([new TextEncoder().encode(sse([{ choices: [{ delta: { content: 42 } }] }]))]) });
    const shape = await rejection(collect(wrong.stream(hello)));
    assert.equal(shape.code, 'bad_response');
    assert.match(shape.message, /choices\.0\.delta\.content/);
    const failing = new OpenAiCompatibleClient({
      baseUrl: 'http://model.test/v1',
      model: 'm',
      fetch: fetchWithBody([new TextEncoder().encode(sse([delta('x'), { error: { message: 'overloaded', type: 'server_error' } }]))]),
    });
    const streamed = await rejection(collect(failing.stream(hello)));
    assert.equal(streamed.code, 'bad_response');
    assert.match(streamed.message, /overloaded/);
  });

  test('a server that ignores stream:true and answers one JSON completion still works', async () => {
    const json = JSON.stringify({ choices: [{ index: 0, message: { role: 'assistant', content: 'whole' }, finish_reason: 'stop' }], usage: { prompt_tokens: 2, completion_tokens: 1 } });
    const c = new OpenAiCompatibleClient({ baseUrl: 'http://model.test/v1', model: 'm', fetch: fetchWithBody([new TextEncoder().encode(json)], { headers: { 'content-type': 'application/json' } }) });
    assert.deepEqual(await collect(c.stream(hello)), [
      { type: 'text', text: 'whole' },
      { type: 'usage', inputTokens: 2, outputTokens: 1 },
      { type: 'done', finishReason: 'stop' },
    ]);
  });

  test('403 is http_4xx; an Ollama-style string error is used as the message; an HTML 200 is bad_response', async () => {
    const forbidden = new OpenAiCompatibleClient({
      baseUrl: 'http://model.test/v1',
      model: 'm',
      apiKey: KEY,
      fetch: fetchWithBody([new TextEncoder().encode(JSON.stringify({ error: `key ${KEY} may not use model m` }))], { status: 403, headers: { 'content-type': 'application/json' } }),
    });
    const error = await rejection(collect(forbidden.stream(hello)));
    assert.equal(error.code, 'http_4xx');
    assert.equal(error.status, 403);
    assert.match(error.message, /may not use model m/);
    assert.ok(!everythingIn(error).includes(KEY));
    const html = new OpenAiCompatibleClient({
      baseUrl: 'http://model.test/v1',
      model: 'm',
      fetch: fetchWithBody([new TextEncoder().encode('<html>Access denied by proxy</html>')], { status: 200, headers: { 'content-type': 'text/html' } }),
    });
    const proxied = await rejection(collect(html.stream(hello)));
    assert.equal(proxied.code, 'bad_response');
    assert.match(proxied.message, /proxy/);
  });

  test('options are checked up front', () => {
    assert.throws(() => new OpenAiCompatibleClient({ baseUrl: 'not a url', model: 'm' }), TypeError);
    assert.throws(() => new OpenAiCompatibleClient({ baseUrl: 'ftp://x/v1', model: 'm' }), TypeError);
    assert.throws(() => new OpenAiCompatibleClient({ baseUrl: 'https://user:pw@x/v1', model: 'm' }), TypeError);
    assert.throws(() => new OpenAiCompatibleClient({ baseUrl: 'https://x/v1', model: 'm', timeoutMs: 0 }), RangeError);
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('OpenAiCompatibleClient and redirects', () => {
  /** An endpoint that moved: every request gets a 307 to another server that would answer anything. */
  async function movedEndpoint(status: number) {
    const reached: string[] = [];
    const target = createServer((req, res) => {
      reached.push(`${req.method ?? ''} ${req.url ?? ''} ${req.headers.authorization ?? ''}`);
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ object: 'list', data: [{ id: 'stolen', object: 'model' }] }));
    });
    target.listen(0, '127.0.0.1');
    await once(target, 'listening');
    const targetUrl = `http://127.0.0.1:${(target.address() as AddressInfo).port}`;
    const moved = createServer((req, res) => {
      res.writeHead(status, { Location: `${targetUrl}${req.url ?? '/'}` });
      res.end();
    });
    moved.listen(0, '127.0.0.1');
    await once(moved, 'listening');
    return {
      url: `http://127.0.0.1:${(moved.address() as AddressInfo).port}/v1`,
      targetOrigin: targetUrl,
      reached,
      dispose: async () => {
        moved.closeAllConnections();
        target.closeAllConnections();
        await Promise.all([new Promise((r) => moved.close(r)), new Promise((r) => target.close(r))]);
      },
    };
  }

  for (const status of [301, 302, 307, 308]) {
    test(`${status} is not followed: bad_response naming the new origin, and the key never reaches it`, async (t) => {
      const endpoint = await movedEndpoint(status);
      t.after(() => endpoint.dispose());
      const client = new OpenAiCompatibleClient({ baseUrl: endpoint.url, model: 'echo-1', apiKey: KEY });
      const chat = await rejection(collect(client.stream(hello)));
      assert.equal(chat.code, 'bad_response');
      assert.equal(chat.status, status);
      assert.match(chat.message, new RegExp(`redirect \\(HTTP ${status}\\) to ${endpoint.targetOrigin.replace(/[.]/g, '\\.')}`));
      const list = await rejection(client.listModels());
      assert.equal(list.code, 'bad_response');
      assert.deepEqual(endpoint.reached, [], 'nothing was sent to the redirect target');
      assert.ok(!everythingIn(chat).includes(KEY));
    });
  }
});
