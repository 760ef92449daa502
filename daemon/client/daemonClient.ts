import WebSocket from 'ws';
import { AuditError, ErrorCodes, type WireError } from '../protocol/errors.ts';
import {
  CLIENT_NAME_HEADER,
  CLIENT_USER_HEADER,
  MAX_FRAME_BYTES,
  type ClientIdentity,
  PROTOCOL_PATH,
  type MethodName,
  type NotificationFrame,
  type NotificationName,
  type Notifications,
  type ParamsOf,
  type ResultOf,
} from '../protocol/messages.ts';

export interface DaemonEndpoint {
  port: number;
  token: string;
  host?: string;
}

type Listener<N extends NotificationName> = (params: Notifications[N]) => void;

/**
 * A typed client of the daemon's WebSocket protocol, for the CLI, the extension and tests. Requests are
 * matched to responses by id; an error response rejects with an {@link AuditError} carrying its code.
 */
export class DaemonClient {
  private readonly ws: WebSocket;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  private readonly listeners = new Map<NotificationName, Set<Listener<NotificationName>>>();
  private closedError: Error | null = null;
  private readonly closeListeners = new Set<(error: Error) => void>();

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on('message', (data) => this.receive(data.toString()));
    ws.on('close', (code, reason) => {
      this.closedError = new AuditError(ErrorCodes.ShuttingDown, `the connection to the daemon closed (${code}${reason.length > 0 ? `: ${reason.toString()}` : ''})`);
      for (const { reject } of this.waiting.values()) reject(this.closedError);
      this.waiting.clear();
      for (const listener of this.closeListeners) listener(this.closedError);
    });
    ws.on('error', () => {
      // 'close' follows and rejects what is waiting.
    });
  }

  /** Connects and authenticates; rejects with the HTTP status when the daemon refuses. */
  static connect(endpoint: DaemonEndpoint, options: { origin?: string; timeoutMs?: number; client?: ClientIdentity } = {}): Promise<DaemonClient> {
    const url = `ws://${endpoint.host ?? '127.0.0.1'}:${endpoint.port}${PROTOCOL_PATH}`;
    const headers: Record<string, string> = { Authorization: `Bearer ${endpoint.token}` };
    if (options.origin !== undefined) headers.Origin = options.origin;
    // Header values are Latin-1 on the wire: percent-encode so that any user name arrives intact.
    if (options.client?.name !== undefined) headers[CLIENT_NAME_HEADER] = encodeURIComponent(options.client.name);
    if (options.client?.user !== undefined) headers[CLIENT_USER_HEADER] = encodeURIComponent(options.client.user);
    const ws = new WebSocket(url, { headers, maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false, handshakeTimeout: options.timeoutMs ?? 5000 });
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new DaemonClient(ws)));
      ws.once('unexpected-response', (_req, res) => {
        reject(new ConnectError(res.statusCode ?? 0, `the daemon refused the connection: HTTP ${res.statusCode ?? '?'}`));
        ws.terminate();
      });
      ws.once('error', (error) => reject(new ConnectError(0, `cannot reach the daemon at ${url}: ${error.message}`)));
    });
  }

  request<M extends MethodName>(method: M, params: ParamsOf<M>): Promise<ResultOf<M>> {
    if (this.closedError !== null) return Promise.reject(this.closedError);
    const id = this.nextId++;
    return new Promise<ResultOf<M>>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.ws.send(JSON.stringify({ id, method, params }), (error) => {
        if (error !== undefined && error !== null) {
          this.waiting.delete(id);
          reject(error);
        }
      });
    });
  }

  on<N extends NotificationName>(method: N, listener: Listener<N>): { dispose(): void } {
    let set = this.listeners.get(method);
    if (set === undefined) {
      set = new Set();
      this.listeners.set(method, set);
    }
    set.add(listener as Listener<NotificationName>);
    return { dispose: () => set.delete(listener as Listener<NotificationName>) };
  }

  /** Called once when the connection closes, for whatever reason. */
  onClose(listener: (error: Error) => void): { dispose(): void } {
    this.closeListeners.add(listener);
    return { dispose: () => this.closeListeners.delete(listener) };
  }

  get closed(): boolean {
    return this.closedError !== null;
  }

  /** Sends a raw text frame (tests of the daemon's validation). */
  sendRaw(text: string): void {
    this.ws.send(text);
  }

  async dispose(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      this.ws.once('close', () => resolve());
      this.ws.close(1000);
    });
  }

  private receive(text: string): void {
    let frame: { id?: unknown; result?: unknown; error?: WireError; method?: string; params?: unknown };
    try {
      frame = JSON.parse(text) as typeof frame;
    } catch {
      return;
    }
    if (typeof frame.id === 'number') {
      const waiter = this.waiting.get(frame.id);
      if (waiter === undefined) return;
      this.waiting.delete(frame.id);
      if (frame.error !== undefined) waiter.reject(AuditError.fromWire(frame.error));
      else waiter.resolve(frame.result);
      return;
    }
    if (typeof frame.method === 'string') {
      const notification = frame as NotificationFrame;
      for (const listener of this.listeners.get(notification.method) ?? []) listener(notification.params);
    }
  }
}

/** The daemon could not be reached or refused the handshake (`status` 401, 403, or 0 for no answer). */
export class ConnectError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = 'ConnectError';
    this.status = status;
  }
}
