import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { ingestTrace } from '../ingestTrace.ts';
import { AuditError, ErrorCodes, type WireError } from '../protocol/errors.ts';
import type { Actor } from '../protocol/entry.ts';
import {
  CLIENT_NAME_HEADER,
  CLIENT_USER_HEADER,
  ClientIdentity,
  isMethodName,
  MAX_FRAME_BYTES,
  Methods,
  PROTOCOL_PATH,
  RequestFrame,
  type NotificationFrame,
  type NotificationName,
  type Notifications,
  type ResponseFrame,
} from '../protocol/messages.ts';
import { ConnectionFlow, FlowBudget, type FlowLimits, type FlowTotals } from './connectionFlow.ts';
import type { HandlerContext, HandlerTable } from './handlers.ts';
import { SerializedResult } from './serializedResult.ts';

/** One client connection as handlers see it. */
export interface Connection {
  readonly id: number;
  /** Who the client said it is in its handshake headers, if it did. */
  readonly client: ClientIdentity | null;
  notify<N extends NotificationName>(method: N, params: Notifications[N]): void;
  /** Disposed when the connection closes (tail subscriptions register here). */
  onClose(dispose: () => void): void;
}

export interface WsServerOptions {
  token: string;
  port: number;
  handlers: HandlerTable;
  log: (message: string) => void;
  /** Bugs the daemon survived (`internal` errors), for error tracking. */
  reportError?: (error: unknown) => void;
  /** Test only: the bound across connections (default {@link FLOW_BUDGET_CHARS}). */
  flowBudgetChars?: number;
}

/**
 * Characters a connection may have queued for sending (responses and notifications together). Above it,
 * the daemon starts none of the connection's further requests and stops reading its frames until it reads
 * (see {@link ConnectionFlow}); a notification that finds the bound exceeded closes the connection (1008)
 * instead, as notifications cannot wait: a tail subscriber that does not read reconnects and pages with
 * `query` to catch up.
 */
export const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;

/** Per-connection bounds of the requests in progress (docs/protocol.md, section 1.5). */
export const FLOW_LIMITS: FlowLimits = {
  maxRunning: 16,
  maxRunningChars: 2 * MAX_FRAME_BYTES,
  maxQueuedChars: MAX_BUFFERED_BYTES,
};

/**
 * Characters of frames received and not yet answered, over all connections (docs/protocol.md, section 1.5):
 * without it, every token holder could hold its own {@link FLOW_LIMITS} at once.
 */
export const FLOW_BUDGET_CHARS = 4 * MAX_FRAME_BYTES;

/** Browser origins allowed to connect: VS Code webviews. Any other web page could reach 127.0.0.1. */
function originAllowed(origin: string | undefined): boolean {
  return origin === undefined || origin.startsWith('vscode-webview://');
}

function tokenMatches(header: string | undefined, token: string): boolean {
  const presented = header?.startsWith('Bearer ') === true ? header.slice(7) : '';
  // Compare digests: constant time, and equal lengths whatever was presented.
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(token).digest();
  return timingSafeEqual(a, b) && presented.length > 0;
}

/** The identity a client sent in its handshake headers; a malformed one is ignored (it proves nothing anyway). */
function clientFromHeaders(req: IncomingMessage): ClientIdentity | null {
  const read = (name: string): string | undefined => {
    const value = req.headers[name];
    if (typeof value !== 'string') return undefined;
    try {
      return decodeURIComponent(value);
    } catch {
      return undefined;
    }
  };
  const identity: Record<string, string> = {};
  const name = read(CLIENT_NAME_HEADER);
  const user = read(CLIENT_USER_HEADER);
  if (name !== undefined) identity.name = name;
  if (user !== undefined) identity.user = user;
  const parsed = ClientIdentity.safeParse(identity);
  return parsed.success && (name !== undefined || user !== undefined) ? parsed.data : null;
}

/** The `actor` of the `audit.*` entries a request causes. */
function actorOf(client: ClientIdentity | null): Actor | undefined {
  if (client === null || (client.name === undefined && client.user === undefined)) return undefined;
  const actor: Actor = {};
  if (client.user !== undefined) actor.user_id = client.user;
  if (client.name !== undefined) actor.client = client.name;
  return actor;
}

function refuse(socket: Duplex, status: number, reason: string): void {
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${reason.length}\r\n\r\n${reason}`);
}

/**
 * The daemon's WebSocket endpoint: 127.0.0.1 only, path `/v1`, token and Origin checked in our own
 * `upgrade` handler before `handleUpgrade` (ws's advice over `verifyClient`), frames capped at
 * {@link MAX_FRAME_BYTES}. Every frame is validated and dispatched through the handler table; a bad
 * frame gets a typed error and the connection stays open.
 */
export class WsServer {
  private readonly http: Server;
  private readonly wss: WebSocketServer;
  private readonly options: WsServerOptions;
  private nextConnection = 1;
  private readonly flows = new Set<ConnectionFlow>();
  private readonly budget: FlowBudget;

  private constructor(options: WsServerOptions) {
    this.options = options;
    this.budget = new FlowBudget(options.flowBudgetChars ?? FLOW_BUDGET_CHARS);
    this.http = createServer((_req, res) => {
      res.writeHead(426, { 'Content-Type': 'text/plain' }).end('WebSocket only');
    });
    this.wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false });
    this.http.on('upgrade', (req, socket, head) => this.upgrade(req, socket, head));
    this.wss.on('connection', (ws: WebSocket, req: IncomingMessage) => this.accept(ws, clientFromHeaders(req)));
  }

  static async start(options: WsServerOptions): Promise<WsServer> {
    const server = new WsServer(options);
    await new Promise<void>((resolve, reject) => {
      server.http.once('error', reject);
      server.http.listen(options.port, '127.0.0.1', () => {
        server.http.off('error', reject);
        resolve();
      });
    });
    return server;
  }

  get port(): number {
    const address = this.http.address();
    return typeof address === 'object' && address !== null ? address.port : 0;
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const path = (req.url ?? '').split('?')[0];
    if (path !== PROTOCOL_PATH) return refuse(socket, 404, `Not Found: the protocol lives at ${PROTOCOL_PATH}`);
    if (!originAllowed(req.headers.origin)) {
      this.options.log(`refused a connection from origin ${JSON.stringify(req.headers.origin)}`);
      return refuse(socket, 403, 'Forbidden');
    }
    if (!tokenMatches(req.headers.authorization, this.options.token)) return refuse(socket, 401, 'Unauthorized');
    this.wss.handleUpgrade(req, socket, head, (ws) => this.wss.emit('connection', ws, req));
  }

  private accept(ws: WebSocket, client: ClientIdentity | null): void {
    const disposers: Array<() => void> = [];
    const flow: ConnectionFlow = new ConnectionFlow(ws, FLOW_LIMITS, this.budget, async (text) => {
      const started = ingestTrace === null ? 0 : performance.now();
      try {
        await this.handleFrame(flow, connection, text);
      } catch (error: unknown) {
        this.options.log(`connection ${connection.id}: a frame failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
        this.options.reportError?.(error);
      }
      ingestTrace?.frame(started);
    });
    const connection: Connection = {
      id: this.nextConnection++,
      client,
      notify: (method, params) => {
        if (ws.readyState !== ws.OPEN) return;
        if (flow.queuedChars > MAX_BUFFERED_BYTES) {
          this.options.log(`connection ${connection.id}: closed, it does not read its notifications (${flow.queuedChars} characters queued)`);
          ws.close(1008, 'too slow: notifications not read');
          return;
        }
        const frame: NotificationFrame = { method, params } as NotificationFrame;
        flow.send(JSON.stringify(frame));
      },
      onClose: (dispose) => disposers.push(dispose),
    };
    this.flows.add(flow);
    ws.on('message', (data, isBinary) => flow.receive(isBinary ? null : data.toString()));
    ws.on('error', (error) => {
      // Oversize frames end here (ws closes with 1009); the daemon stays up.
      this.options.log(`connection ${connection.id}: ${error.message}`);
    });
    ws.on('close', () => {
      flow.close();
      this.flows.delete(flow);
      for (const dispose of disposers.reverse()) dispose();
    });
  }

  /** Flow control summed over the open connections, for `health`. */
  flowTotals(): FlowTotals {
    const totals: FlowTotals = { connections: 0, reading_paused: 0, requests_running: 0, queued_chars: 0, held_chars: this.budget.held };
    for (const flow of this.flows) flow.addTo(totals);
    return totals;
  }

  private async handleFrame(flow: ConnectionFlow, connection: Connection, text: string | null): Promise<void> {
    const send = (frame: ResponseFrame): void => flow.send(JSON.stringify(frame));
    const fail = (id: string | number | null, error: WireError): void => send({ id, error });
    if (text === null) return fail(null, { code: ErrorCodes.BadRequest, message: 'frames must be text (JSON), not binary' });
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return fail(null, { code: ErrorCodes.BadJson, message: 'the frame is not valid JSON' });
    }
    const frame = RequestFrame.safeParse(json);
    if (!frame.success) {
      const id = typeof json === 'object' && json !== null && 'id' in json ? (json as { id: unknown }).id : null;
      return fail(typeof id === 'string' || typeof id === 'number' ? id : null, {
        code: ErrorCodes.BadRequest,
        message: 'a request is an object { id, method, params }',
        data: { issues: frame.error.issues.slice(0, 5).map((i) => ({ path: i.path.map(String).join('.'), message: i.message })) },
      });
    }
    const { id, method, params } = frame.data;
    const actor = actorOf(frame.data.client ?? connection.client);
    if (!isMethodName(method)) {
      return fail(id, { code: ErrorCodes.UnknownMethod, message: `unknown method ${JSON.stringify(method)}`, data: { methods: Object.keys(Methods) } });
    }
    const parsed = Methods[method].params.safeParse(params ?? {});
    if (!parsed.success) {
      const issues = parsed.error.issues.slice(0, 10).map((i) => ({ path: i.path.map(String).join('.'), message: i.message }));
      return fail(id, {
        code: ErrorCodes.InvalidParams,
        message: `invalid params for ${method}: ${issues[0]?.path || '(params)'}: ${issues[0]?.message ?? 'invalid'}`,
        data: { issues },
      });
    }
    try {
      const handler = this.options.handlers[method] as (params: unknown, context: HandlerContext) => Promise<unknown>;
      const result = await handler(parsed.data, { connection, requestId: id, actor, flow: () => this.flowTotals() });
      if (result instanceof SerializedResult) flow.send(`{"id":${JSON.stringify(id)},"result":${result.json}}`);
      else send({ id, result });
    } catch (error: unknown) {
      if (error instanceof AuditError) return fail(id, error.toWire());
      this.options.log(`${method} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      this.options.reportError?.(error);
      fail(id, { code: ErrorCodes.Internal, message: `${method} failed inside the daemon; see the daemon log` });
    }
  }

  /** Closes every connection and the listening socket. */
  async dispose(): Promise<void> {
    for (const client of this.wss.clients) client.close(1001, 'daemon stopping');
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    await new Promise<void>((resolve) => {
      this.http.close(() => resolve());
      this.http.closeAllConnections();
    });
  }
}
