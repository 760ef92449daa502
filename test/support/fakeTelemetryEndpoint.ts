import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A real local HTTP server standing in for a SIEM / webhook that receives scan telemetry.
 *
 * Modes (switchable at run time):
 * - `ok`: 200 to every POST.
 * - `notFound`: 404, like the seed's fictitious `https://api.lakera.ai/v2/telemetry`.
 * - `unauthorized`: 401 (also when a `token` is configured and the request's bearer token differs).
 * - `unavailableThenOk`: 503 (with `Retry-After` when set) for the first `failures` requests, then 200.
 * - `status`: the given `status` (with `Location` for a redirect) for the first `failures` requests
 *   (every request when `failures` is not set), then 200.
 */
export type FakeTelemetryMode = 'ok' | 'notFound' | 'unauthorized' | 'unavailableThenOk' | 'status';

export interface FakeTelemetryModeOptions {
  failures?: number;
  retryAfterSeconds?: number;
  /** `status` mode: the HTTP status to answer. */
  status?: number;
  /** `status` mode: the `Location` header (redirects). */
  location?: string;
}

export interface TelemetryRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  /** The raw body, for checks that must look at every byte sent. */
  raw: string;
  body: unknown;
  /** What the fake answered. */
  status: number;
}

export interface FakeTelemetryEndpoint {
  /** The endpoint URL (with a path, as a webhook has). */
  url: string;
  /** Every request, answered or not. */
  requests: TelemetryRequest[];
  /** Bodies of the requests answered 2xx. */
  readonly accepted: unknown[];
  setMode(mode: FakeTelemetryMode, options?: FakeTelemetryModeOptions): void;
  dispose(): Promise<void>;
}

export async function startFakeTelemetryEndpoint(options: { token?: string } = {}): Promise<FakeTelemetryEndpoint> {
  let mode: FakeTelemetryMode = 'ok';
  let failuresLeft = 0;
  let retryAfterSeconds: number | undefined;
  let fixed: { status: number; location?: string } = { status: 200 };
  const requests: TelemetryRequest[] = [];

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let body: unknown;
      try {
        body = JSON.parse(raw);
      } catch {
        body = undefined;
      }
      const badToken = options.token !== undefined && req.headers.authorization !== `Bearer ${options.token}`;
      let status = 200;
      const headers: Record<string, string> = { 'Content-Type': 'application/json' };
      if (req.method !== 'POST') status = 405;
      else if (mode === 'notFound') status = 404;
      else if (mode === 'unauthorized' || badToken) status = 401;
      else if (mode === 'unavailableThenOk' && failuresLeft > 0) {
        failuresLeft--;
        status = 503;
        if (retryAfterSeconds !== undefined) headers['Retry-After'] = String(retryAfterSeconds);
      } else if (mode === 'status' && failuresLeft !== 0) {
        failuresLeft--;
        status = fixed.status;
        if (fixed.location !== undefined) headers.Location = fixed.location;
        if (retryAfterSeconds !== undefined) headers['Retry-After'] = String(retryAfterSeconds);
      }
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, raw, body, status });
      res.writeHead(status, headers);
      res.end(JSON.stringify(status === 200 ? { ok: true } : { error: { message: `fake telemetry endpoint: ${status}` } }));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/hooks/telemetry`,
    requests,
    get accepted() {
      return requests.filter((r) => r.status >= 200 && r.status < 300).map((r) => r.body);
    },
    setMode: (next, modeOptions = {}) => {
      mode = next;
      // `status` without a count fails every request (-1 never reaches 0).
      failuresLeft = modeOptions.failures ?? (next === 'unavailableThenOk' ? 2 : next === 'status' ? -1 : 0);
      retryAfterSeconds = modeOptions.retryAfterSeconds;
      fixed = { status: modeOptions.status ?? 200, ...(modeOptions.location === undefined ? {} : { location: modeOptions.location }) };
    },
    dispose: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
