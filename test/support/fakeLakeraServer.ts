// A local Lakera Guard for tests: a real HTTP server on 127.0.0.1 that follows
// shared/contracts/lakera-guard.md §11. Lakera publishes no error-body schema or status codes for
// auth, validation, size and quota failures; the ones used here are the contract's *assumptions*
// (401 `{"detail": …}`, 400, 413, 429 with Retry-After), not facts about the real service.

import { randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * How the server answers `/v2/guard` and `/v2/guard/results`:
 * - `normal`: screens the messages;
 * - `http429`: quota exhausted, with `Retry-After`;
 * - `http500`: a plain-text (non-JSON) 500; `http503`: a non-JSON 503 from a "gateway";
 * - `slow`: answers normally after `delayMs`;
 * - `html`: 200 with an HTML page, as a corporate proxy's block page does;
 * - `reset`: destroys the connection without an answer.
 */
export type FakeLakeraMode = 'normal' | 'http429' | 'http500' | 'http503' | 'slow' | 'html' | 'reset';

export interface FakeLakeraOptions {
  /** The only key accepted as `Authorization: Bearer <apiKey>`. */
  apiKey: string;
  /** Largest accepted request body in bytes; default 128 KiB, the limit in Lakera's older docs. */
  maxBodyBytes?: number;
  /** Hosts (and their subdomains) that do not count as unknown links. */
  allowedDomains?: readonly string[];
}

export interface ModeOptions {
  /** `slow`: how long to wait before answering, in ms (default 1000). */
  delayMs?: number;
  /** `http429`: the `Retry-After` value in seconds, or `null` to send none (default 7). */
  retryAfter?: number | null;
}

/** One request to `POST /v2/guard`, as received (recorded before auth, so failed calls show too). */
export interface FakeLakeraCall {
  headers: IncomingHttpHeaders;
  /** The parsed JSON body, or the raw text when it was not JSON. */
  body: unknown;
  /** The status the server answered with; `null` when it reset the connection or has not answered yet. */
  status: number | null;
}

export interface FakeLakera {
  /** Base URL, e.g. `http://127.0.0.1:41234` (give it to the client as `baseUrl`). */
  url: string;
  /** Every `/v2/guard` call, oldest first. `/v2/guard/results` is not recorded: Lakera does not log it. */
  calls: FakeLakeraCall[];
  setMode(mode: FakeLakeraMode, options?: ModeOptions): void;
  dispose(): Promise<void>;
}

type Role = 'system' | 'user' | 'assistant' | 'tool' | 'developer';
interface Message {
  role: Role;
  content: string;
}
interface GuardRequest {
  messages: Message[];
  project_id?: string;
  payload?: boolean;
  breakdown?: boolean;
  dev_info?: boolean;
  metadata?: Record<string, unknown>;
}

const ROLES: readonly string[] = ['system', 'user', 'assistant', 'tool', 'developer'];

/** The detectors of Lakera's default policy, as captured in a real response (contract §2.4). */
const DEFAULT_POLICY_DETECTORS: ReadonlyArray<{ detector_id: string; detector_type: string }> = [
  ...['crime', 'hate', 'profanity', 'sexual', 'violence', 'weapons'].map((t) => ({
    detector_id: 'detector-lakera-default-moderated-content',
    detector_type: `moderated_content/${t}`,
  })),
  ...['address', 'credit_card', 'email', 'iban_code', 'ip_address', 'name', 'phone_number', 'us_social_security_number'].map((t) => ({
    detector_id: 'detector-lakera-default-pii',
    detector_type: `pii/${t}`,
  })),
  { detector_id: 'detector-lakera-default-prompt-attack', detector_type: 'prompt_attack' },
  { detector_id: 'detector-lakera-default-unknown-links', detector_type: 'unknown_links' },
];

const PROMPT_ATTACK = /ignore\s+(?:all\s+)?(?:previous|prior|above)\s+instructions/i;
const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g;
const URL_PATTERN = /https?:\/\/[^\s"'<>)\]]+/g;

interface Finding {
  detector_type: string;
  message_id: number;
  start: number;
  /** Exclusive, as Portkey assumes by default (contract §2.2: exclusivity unconfirmed). */
  end: number;
  text: string;
}

/**
 * The messages a verdict covers: Lakera flags "the last user and assistant message pair" (contract §2.1).
 * Here that is the last non-system message and, when it is an answer, the user message before it.
 */
function screenedIndexes(messages: readonly Message[]): number[] {
  const last = messages.findLastIndex((m) => m.role !== 'system');
  if (last < 0) return [];
  const lastMessage = messages[last];
  if (lastMessage?.role !== 'assistant') return [last];
  const user = messages.slice(0, last).findLastIndex((m) => m.role === 'user');
  return user < 0 ? [last] : [user, last];
}

function isAllowedHost(host: string, allowed: readonly string[]): boolean {
  return allowed.some((domain) => host === domain || host.endsWith(`.${domain}`));
}

function screen(messages: readonly Message[], allowedDomains: readonly string[]): Finding[] {
  const findings: Finding[] = [];
  for (const index of screenedIndexes(messages)) {
    const content = messages[index]?.content ?? '';
    const attack = PROMPT_ATTACK.exec(content);
    if (attack !== null) {
      findings.push({ detector_type: 'prompt_attack', message_id: index, start: attack.index, end: attack.index + attack[0].length, text: attack[0] });
    }
    for (const m of content.matchAll(EMAIL)) {
      findings.push({ detector_type: 'pii/email', message_id: index, start: m.index, end: m.index + m[0].length, text: m[0] });
    }
    for (const m of content.matchAll(URL_PATTERN)) {
      let host: string;
      try {
        host = new URL(m[0]).hostname;
      } catch {
        continue;
      }
      if (!isAllowedHost(host, allowedDomains)) {
        findings.push({ detector_type: 'unknown_links', message_id: index, start: m.index, end: m.index + m[0].length, text: m[0] });
      }
    }
  }
  return findings;
}

/** Why a body is not a valid guard request, or null. Mirrors the contract's field table (§2.1). */
function invalidReason(body: unknown): string | null {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'body must be a JSON object';
  const b = body as Record<string, unknown>;
  if (!Array.isArray(b.messages) || b.messages.length === 0) return 'messages must be a non-empty array';
  for (const [i, m] of b.messages.entries()) {
    if (typeof m !== 'object' || m === null) return `messages.${i} must be an object`;
    const { role, content } = m as Record<string, unknown>;
    if (typeof role !== 'string' || !ROLES.includes(role)) return `messages.${i}.role must be one of ${ROLES.join(', ')}`;
    if (typeof content !== 'string') return `messages.${i}.content must be a string`;
  }
  for (const flag of ['payload', 'breakdown', 'dev_info'] as const) {
    if (b[flag] !== undefined && typeof b[flag] !== 'boolean') return `${flag} must be a boolean`;
  }
  if (b.project_id !== undefined && typeof b.project_id !== 'string') return 'project_id must be a string';
  if (b.metadata !== undefined && (typeof b.metadata !== 'object' || b.metadata === null || Array.isArray(b.metadata))) return 'metadata must be an object';
  return null;
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

function sendText(res: ServerResponse, status: number, contentType: string, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** Reads the body, keeping at most `limit` bytes; `tooLarge` says there was more (which is drained). */
async function readBody(req: IncomingMessage, limit: number): Promise<{ text: string; tooLarge: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  let tooLarge = false;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.byteLength;
    if (size > limit) tooLarge = true;
    else chunks.push(buffer);
  }
  return { text: Buffer.concat(chunks).toString('utf8'), tooLarge };
}

const PROXY_PAGE =
  '<!DOCTYPE html><html><head><title>Access blocked</title></head><body><h1>Access to api.lakera.ai is blocked</h1>' +
  '<p>This site was blocked by your organisation\'s web proxy policy.</p></body></html>';

/** Starts the fake Lakera Guard on a free loopback port. */
export async function startFakeLakera(options: FakeLakeraOptions): Promise<FakeLakera> {
  const maxBodyBytes = options.maxBodyBytes ?? 128 * 1024;
  const allowedDomains = options.allowedDomains ?? ['lakera.ai', 'github.com'];
  const calls: FakeLakeraCall[] = [];
  let mode: FakeLakeraMode = 'normal';
  let delayMs = 1000;
  let retryAfter: number | null = 7;
  const timers = new Set<NodeJS.Timeout>();

  const wait = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        resolve();
      }, ms);
      timers.add(timer);
    });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    const isGuard = path === '/v2/guard';
    const isResults = path === '/v2/guard/results';
    // Neither /v2/telemetry (an invention, contract §7.1) nor the deprecated v1 API exists.
    if (!isGuard && !isResults) {
      req.resume();
      sendJson(res, 404, { detail: 'Not Found' });
      return;
    }
    if (req.method !== 'POST') {
      req.resume();
      sendJson(res, 405, { detail: 'Method Not Allowed' }, { Allow: 'POST' });
      return;
    }

    const { text, tooLarge } = await readBody(req, maxBodyBytes);
    let parsed: unknown = text;
    let isJson = false;
    try {
      parsed = JSON.parse(text);
      isJson = true;
    } catch {
      // Recorded as text; answered with 400 below.
    }
    const call: FakeLakeraCall | undefined = isGuard ? { headers: req.headers, body: parsed, status: null } : undefined;
    if (call !== undefined) calls.push(call);
    const reply = (status: number, send: () => void): void => {
      if (call !== undefined) call.status = status;
      if (!res.destroyed && !req.socket.destroyed) send();
    };

    // Infrastructure failures come before the API itself, as they would from a gateway or proxy.
    if (mode === 'slow') await wait(delayMs);
    // The client may have given up while we waited.
    if (res.destroyed || req.socket.destroyed) return;
    if (mode === 'reset') {
      req.socket.destroy();
      return;
    }
    if (mode === 'html') return reply(200, () => sendText(res, 200, 'text/html; charset=utf-8', PROXY_PAGE));
    if (mode === 'http500') return reply(500, () => sendText(res, 500, 'text/plain', 'Internal Server Error'));
    if (mode === 'http503') {
      return reply(503, () => sendText(res, 503, 'text/html', '<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>'));
    }

    if (req.headers.authorization !== `Bearer ${options.apiKey}`) {
      return reply(401, () => sendJson(res, 401, { detail: 'Invalid or missing API key' }));
    }
    if (mode === 'http429') {
      const headers: Record<string, string> = retryAfter === null ? {} : { 'Retry-After': String(retryAfter) };
      return reply(429, () => sendJson(res, 429, { detail: 'Rate limit exceeded' }, headers));
    }
    if (tooLarge) return reply(413, () => sendJson(res, 413, { detail: `Request body larger than ${maxBodyBytes} bytes` }));
    if (!(req.headers['content-type'] ?? '').startsWith('application/json')) {
      return reply(415, () => sendJson(res, 415, { detail: 'Content-Type must be application/json' }));
    }
    if (!isJson) return reply(400, () => sendJson(res, 400, { detail: 'Body is not valid JSON' }));
    const invalid = invalidReason(parsed);
    if (invalid !== null) return reply(400, () => sendJson(res, 400, { detail: invalid }));

    const request = parsed as GuardRequest;
    const findings = screen(request.messages, allowedDomains);
    const projectId = request.project_id ?? 'project-lakera-default';
    const lastIndex = request.messages.length - 1;
    const detected = new Set(findings.map((f) => f.detector_type));

    if (isResults) {
      const results = DEFAULT_POLICY_DETECTORS.map((d) => ({
        project_id: projectId,
        policy_id: 'policy-lakera-default',
        ...d,
        result: detected.has(d.detector_type) ? 'l1_confident' : 'l5_unlikely',
        custom_matched: false,
        message_id: lastIndex,
      }));
      return reply(200, () => sendJson(res, 200, { results }));
    }

    const breakdown = DEFAULT_POLICY_DETECTORS.map((d) => ({
      project_id: projectId,
      policy_id: 'policy-lakera-default',
      ...d,
      detected: detected.has(d.detector_type),
      message_id: lastIndex,
    }));
    const response: Record<string, unknown> = { flagged: breakdown.some((d) => d.detected) };
    // Like Lakera, the payload lists PII matches (with positions), not prompt attacks.
    if (request.payload === true) response.payload = findings.filter((f) => f.detector_type.startsWith('pii/'));
    if (request.breakdown === true) response.breakdown = breakdown;
    if (request.dev_info === true) {
      response.dev_info = { git_revision: 'fa4e0000', git_timestamp: '2025-09-23T15:28:06+00:00', model_version: 'lakera-guard-1', version: '2.0.0-fake' };
    }
    response.metadata = { request_uuid: randomUUID() };
    return reply(200, () => sendJson(res, 200, response));
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent && !res.destroyed) sendJson(res, 500, { detail: `fake server error: ${String(error)}` });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  let disposed: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    setMode(next, modeOptions = {}) {
      mode = next;
      if (modeOptions.delayMs !== undefined) delayMs = modeOptions.delayMs;
      if (modeOptions.retryAfter !== undefined) retryAfter = modeOptions.retryAfter;
    },
    dispose() {
      disposed ??= new Promise<void>((resolve) => {
        for (const timer of timers) clearTimeout(timer);
        timers.clear();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return disposed;
    },
  };
}
