// A real HTTP reverse proxy on 127.0.0.1 in front of an S3 server (s3rver) that misbehaves on purpose:
// it drops connections before or after forwarding, delays, and answers 500, 503 and SlowDown for a share
// of requests; it can also deny reads and deletes (403 AccessDenied, as a PutObject-only IAM policy does)
// and evaluate `If-None-Match: *` on writes as AWS S3 does (s3rver ignores it).

import { createHash } from 'node:crypto';
import { Agent, createServer, request as httpRequest } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Socket } from 'node:net';

/**
 * - `reset-before`: the connection is dropped before the request reaches the server;
 * - `reset-after`: the server handles the request, then the connection is dropped before the answer
 *   (the client cannot know that its write happened);
 * - `delay`: forwarded after a pause; `http500` InternalError; `http503` ServiceUnavailable; `slowdown`
 *   503 SlowDown.
 */
export type Fault = 'reset-before' | 'reset-after' | 'delay' | 'http500' | 'http503' | 'slowdown';
export const FAULTS: readonly Fault[] = ['reset-before', 'reset-after', 'delay', 'http500', 'http503', 'slowdown'];

/** An S3 error answer of the caller's choice (`RequestTimeTooSkewed`, `ExpiredToken`…). */
export interface ErrorAnswer {
  status: number;
  code: string;
}

/** One request as the proxy sees it; `attempt` counts earlier requests with the same method and URL. */
export interface ProxiedRequest {
  method: string;
  url: string;
  attempt: number;
}

export interface FaultProxyOptions {
  /** The upstream server, e.g. `http://127.0.0.1:4568`. */
  target: string;
  /** Which fault, if any, to apply to a request; default none. */
  decide?: (request: ProxiedRequest) => Fault | ErrorAnswer | null;
  /** Answer GET, HEAD and DELETE with 403 AccessDenied (a write-only destination). */
  denyReads?: boolean;
  /** Answer writes carrying `If-None-Match: *` with 412 when the object exists. */
  conditionalWrites?: boolean;
}

export interface FaultProxy {
  /** `http://127.0.0.1:PORT`: give it to the client as the endpoint. */
  endpoint: string;
  /** Faults applied so far, by kind. */
  readonly injected: Map<Fault | 'denied' | 'precondition-failed' | 'answered', number>;
  /** Every request seen so far, as `METHOD /path?query`, oldest first. */
  readonly seen: string[];
  dispose(): Promise<void>;
}

/**
 * A deterministic share of faults: each distinct request (method and URL) fails on its first attempts with
 * probability `share`, at most `maxPerRequest` times in a row, with a fault kind drawn from `faults`. The
 * draws hash the request and `seed`, so a run is repeatable and every request succeeds within
 * `maxPerRequest + 1` attempts (the client's retry budget must be larger).
 */
export function shareOfFaults(options: { share: number; seed: string; maxPerRequest?: number; faults?: readonly Fault[] }): (request: ProxiedRequest) => Fault | null {
  const faults = options.faults ?? FAULTS;
  const max = options.maxPerRequest ?? 2;
  return (request) => {
    if (request.attempt >= max) return null;
    const digest = createHash('sha256').update(`${options.seed}\n${request.method}\n${request.url}\n${request.attempt}`).digest();
    if (digest.readUInt32BE(0) / 0x1_0000_0000 >= options.share) return null;
    return faults[digest.readUInt32BE(4) % faults.length] ?? null;
  };
}

export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const target = new URL(options.target);
  const agent = new Agent({ keepAlive: true });
  const attempts = new Map<string, number>();
  const injected = new Map<Fault | 'denied' | 'precondition-failed' | 'answered', number>();
  const sockets = new Set<Socket>();
  const seen: string[] = [];
  const count = (what: Fault | 'denied' | 'precondition-failed' | 'answered'): void => {
    injected.set(what, (injected.get(what) ?? 0) + 1);
  };

  const forward = (req: IncomingMessage, res: ServerResponse | null, onDone?: () => void): void => {
    const upstream = httpRequest(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers, agent },
      (answer) => {
        if (res === null) {
          answer.resume();
          answer.on('end', () => onDone?.());
          return;
        }
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => req.socket.destroy());
    req.pipe(upstream);
  };

  const server = createServer((req, res) => {
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    const id = `${method} ${url}`;
    seen.push(id);
    const attempt = attempts.get(id) ?? 0;
    attempts.set(id, attempt + 1);

    if (options.denyReads === true && (method === 'GET' || method === 'HEAD' || method === 'DELETE') && !isBucketListing(url)) {
      count('denied');
      drainThen(req, () => answerError(res, method, 403, 'AccessDenied', 'Access Denied'));
      return;
    }
    const decided = options.decide?.({ method, url, attempt }) ?? null;
    if (decided !== null && typeof decided === 'object') {
      count('answered');
      drainThen(req, () => answerError(res, method, decided.status, decided.code, 'Answered by the fault proxy.'));
      return;
    }
    const fault = decided;
    if (fault !== null) count(fault);
    switch (fault) {
      case 'reset-before':
        req.socket.destroy();
        return;
      case 'reset-after':
        forward(req, null, () => req.socket.destroy());
        return;
      case 'http500':
        drainThen(req, () => answerError(res, method, 500, 'InternalError', 'We encountered an internal error. Please try again.'));
        return;
      case 'http503':
        drainThen(req, () => answerError(res, method, 503, 'ServiceUnavailable', 'Service is unable to handle request.'));
        return;
      case 'slowdown':
        drainThen(req, () => answerError(res, method, 503, 'SlowDown', 'Please reduce your request rate.'));
        return;
      case 'delay':
        req.pause();
        setTimeout(() => proceed(req, res), 20 + (attempt % 5) * 40);
        return;
      default:
        proceed(req, res);
    }
  });

  /** Forwards, first evaluating `If-None-Match: *` on object writes when asked to. */
  const proceed = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://proxy');
    const isWrite = (req.method === 'PUT' && !url.searchParams.has('partNumber')) || (req.method === 'POST' && url.searchParams.has('uploadId'));
    if (options.conditionalWrites !== true || !isWrite || req.headers['if-none-match'] !== '*') {
      forward(req, res);
      return;
    }
    req.pause();
    const head = httpRequest({ host: target.hostname, port: target.port, method: 'HEAD', path: url.pathname, agent }, (answer) => {
      answer.resume();
      if (answer.statusCode === 200) {
        count('precondition-failed');
        drainThen(req, () => answerError(res, req.method ?? 'PUT', 412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold'));
      } else {
        forward(req, res);
      }
    });
    head.on('error', () => req.socket.destroy());
    head.end();
  };

  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    injected,
    seen,
    async dispose() {
      for (const socket of sockets) socket.destroy();
      agent.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** `GET /bucket?list-type=2…` lists; a PutObject-only policy may allow s3:ListBucket, and the probe never lists. */
function isBucketListing(url: string): boolean {
  const parsed = new URL(url, 'http://proxy');
  return parsed.searchParams.has('list-type') && parsed.pathname.split('/').filter(Boolean).length === 1;
}

function drainThen(req: IncomingMessage, then: () => void): void {
  req.on('end', then);
  req.resume();
}

function answerError(res: ServerResponse, method: string, status: number, code: string, message: string): void {
  const body =
    method === 'HEAD'
      ? ''
      : `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>FAULTPROXY</RequestId></Error>`;
  res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body), 'x-amz-request-id': 'FAULTPROXY' });
  res.end(body);
}
