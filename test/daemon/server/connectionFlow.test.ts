import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import type { HandlerTable } from '../../../daemon/server/handlers.ts';
import { WsServer } from '../../../daemon/server/wsServer.ts';

const TOKEN = 'flow-budget-test-token';
const BUDGET = 4 * 1024 * 1024;
const FRAME_CHARS = 1.5 * 1024 * 1024;
const CONNECTIONS = 12;
const FRAMES_EACH = 2;

/**
 * The bound across connections (docs/protocol.md, section 1.5), through real sockets: many clients each
 * within their own per-connection limits must not together make the daemon hold more than the budget.
 * Handlers wait on a gate so that requests stay in progress while the test looks.
 */
describe('flow control across connections', () => {
  let server: WsServer;
  let openGate: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (openGate = resolve));
  let mostRunning = 0;
  let running = 0;

  before(async () => {
    const handlers = {
      ingest: async () => {
        running += 1;
        mostRunning = Math.max(mostRunning, running);
        await gate;
        running -= 1;
        return { acks: [] };
      },
    } as unknown as HandlerTable;
    server = await WsServer.start({ token: TOKEN, port: 0, handlers, log: () => undefined, flowBudgetChars: BUDGET });
  });
  after(async () => {
    openGate();
    await server?.dispose();
  });

  test('large frames on many connections: reading pauses at the shared budget, and every request is answered', { timeout: 300_000 }, async () => {
    const padding = 'x'.repeat(FRAME_CHARS);
    const clients = await Promise.all(
      Array.from({ length: CONNECTIONS }, async () => {
        const ws = new WebSocket(`ws://127.0.0.1:${server.port}/v1`, { headers: { Authorization: `Bearer ${TOKEN}` }, perMessageDeflate: false });
        await once(ws, 'open');
        return ws;
      }),
    );
    const answers = clients.map(
      (ws, c) =>
        new Promise<number[]>((resolve, reject) => {
          const ids: number[] = [];
          ws.on('message', (data) => {
            const frame = JSON.parse(data.toString()) as { id: number; result?: unknown; error?: unknown };
            if (frame.result === undefined) reject(new Error(`connection ${c}: ${data.toString().slice(0, 200)}`));
            ids.push(frame.id);
            if (ids.length === FRAMES_EACH) resolve(ids.sort((a, b) => a - b));
          });
          ws.once('close', (code) => reject(new Error(`connection ${c} closed (${code})`)));
        }),
    );
    clients.forEach((ws, c) => {
      for (let f = 0; f < FRAMES_EACH; f++) ws.send(`{"id":${c * FRAMES_EACH + f},"method":"ingest","params":{"events":[{"pad":"${padding}"}]}}`);
    });

    // Wait until every connection has stopped being read (nothing is answered while the gate is shut).
    for (;;) {
      const flow = server.flowTotals();
      assert.ok(flow.held_chars <= BUDGET + CONNECTIONS * (FRAME_CHARS + 100), `the daemon holds ${flow.held_chars} characters of requests`);
      if (flow.connections === CONNECTIONS && flow.reading_paused === CONNECTIONS) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    // Each connection alone is within its own limits (2 frames, 3 Mi characters); together only the budget runs.
    assert.equal(server.flowTotals().requests_running, Math.floor(BUDGET / FRAME_CHARS));
    assert.equal(mostRunning, Math.floor(BUDGET / FRAME_CHARS));

    openGate();
    const received = await Promise.all(answers);
    received.forEach((ids, c) => assert.deepEqual(ids, [c * FRAMES_EACH, c * FRAMES_EACH + 1]));
    const settled = server.flowTotals();
    assert.equal(settled.held_chars, 0);
    assert.equal(settled.reading_paused, 0);
    for (const ws of clients) ws.close();
  });
});
