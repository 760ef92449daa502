import { z } from 'zod';
import { describeNetworkError, retryAfterMs, timeoutSignal } from '../http/httpFailures.ts';
import type { ThreatLevel } from '../../daemon/protocol/entry.ts';

/**
 * The optional forwarder of scan telemetry to an endpoint the user configures (a SIEM or a webhook), in
 * the payload shape of the Lakera telemetry seed (shared/seeds/lakera-telemetry.md).
 *
 * It is NOT a way to send anything to Lakera: the seed's `https://api.lakera.ai/v2/telemetry` does not
 * exist (it answers 404; shared/contracts/lakera-guard.md §7.1), and Lakera already logs every
 * `/v2/guard` call on its platform, tied to `project_id` and the request metadata. So there is no default
 * endpoint, and Lakera hosts are refused.
 *
 * Guarantees: no message content and no key ever (the payload builder takes no content, and every payload
 * is re-checked against the seed's shape before it is queued, which drops unknown fields); `enqueue` never
 * blocks and never throws; the queue is bounded; an endpoint that answers 404 / 401 / 403 stops forwarding
 * with one warning instead of being retried forever.
 */

// ---------------------------------------------------------------------------------------------------------
// Configuration

/** The seed's environment variables. */
export const TELEMETRY_ENV = { enabled: 'LAKERA_TELEMETRY_ENABLED', endpoint: 'LAKERA_TELEMETRY_ENDPOINT' } as const;

export interface ForwarderSettings {
  /** `aiAuditTrail.telemetry.enabled`; unset follows `LAKERA_TELEMETRY_ENABLED`. */
  enabled?: boolean;
  /** `aiAuditTrail.telemetry.endpoint`; empty or unset follows `LAKERA_TELEMETRY_ENDPOINT`. */
  endpoint?: string;
  /** `aiAuditTrail.telemetry.includeUserIp`. Default false. */
  includeUserIp?: boolean;
}

export interface ForwarderConfig {
  /** True only when forwarding is wanted and a usable endpoint is configured. */
  enabled: boolean;
  /** The endpoint to POST to, when one is configured and acceptable. */
  endpoint: string | undefined;
  includeUserIp: boolean;
  /** One message for the user when the configuration cannot be followed as written. Never holds a secret. */
  warning?: string;
}

const TRUE_WORDS = new Set(['true', '1', 'yes', 'on']);
const FALSE_WORDS = new Set(['false', '0', 'no', 'off']);

const NO_LAKERA_TELEMETRY =
  'Lakera has no telemetry endpoint: /v2/telemetry answers 404 (it was invented by a third-party integration), and Lakera already logs every /v2/guard call on its platform, tied to the project id and the request metadata this extension sends.';

/**
 * Resolves the forwarder's configuration. Settings win over the environment. The seed enables telemetry
 * by default; that default is kept, but with no default endpoint forwarding happens only when an endpoint
 * is configured. `LAKERA_TELEMETRY_ENABLED=false` (or `0`, `no`, `off`) disables; a value that is neither
 * true nor false also disables, with a warning, since it most likely meant "off".
 */
export function resolveForwarderConfig(input: { env: Readonly<Record<string, string | undefined>>; settings: ForwarderSettings }): ForwarderConfig {
  const { env, settings } = input;
  const includeUserIp = settings.includeUserIp === true;
  const off = (warning?: string): ForwarderConfig => ({ enabled: false, endpoint: undefined, includeUserIp, ...(warning === undefined ? {} : { warning }) });

  let wanted: boolean | undefined = settings.enabled;
  let enabledSource = 'aiAuditTrail.telemetry.enabled';
  if (wanted === undefined) {
    enabledSource = TELEMETRY_ENV.enabled;
    const raw = env[TELEMETRY_ENV.enabled]?.trim().toLowerCase();
    if (raw !== undefined && raw !== '') {
      if (TRUE_WORDS.has(raw)) wanted = true;
      else if (FALSE_WORDS.has(raw)) wanted = false;
      else return off(`Telemetry forwarding is off: ${TELEMETRY_ENV.enabled} is "${raw.slice(0, 40)}", which is neither true nor false.`);
    }
  }
  if (wanted === false) return off();

  const fromSettings = settings.endpoint?.trim();
  const fromEnv = env[TELEMETRY_ENV.endpoint]?.trim();
  const [endpoint, endpointSource] =
    fromSettings !== undefined && fromSettings !== '' ? [fromSettings, 'aiAuditTrail.telemetry.endpoint'] : [fromEnv === '' ? undefined : fromEnv, TELEMETRY_ENV.endpoint];
  if (endpoint === undefined) {
    if (wanted !== true) return off();
    return off(
      `Telemetry forwarding is enabled (${enabledSource}) but no endpoint is set, so nothing is forwarded. There is no default endpoint. ${NO_LAKERA_TELEMETRY} To forward scan telemetry to your own SIEM or webhook, set aiAuditTrail.telemetry.endpoint.`,
    );
  }
  const problem = endpointProblem(endpoint, endpointSource);
  if (problem !== undefined) return off(problem);
  return { enabled: true, endpoint, includeUserIp };
}

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127(?:\.\d{1,3}){3}$/.test(hostname);
}

/** Why an endpoint cannot be used, or undefined. Messages show the origin only: a webhook path may hold a secret. */
function endpointProblem(endpoint: string, source: string): string | undefined {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return `Telemetry forwarding is off: the endpoint in ${source} is not an absolute URL.`;
  }
  const host = url.hostname.toLowerCase();
  if (host === 'lakera.ai' || host.endsWith('.lakera.ai')) {
    return `Telemetry forwarding is off: ${source} points at ${url.origin}${url.pathname}. ${NO_LAKERA_TELEMETRY} Nothing needs forwarding there; to forward scan telemetry to your own SIEM or webhook, set aiAuditTrail.telemetry.endpoint to its URL.`;
  }
  if (url.username !== '' || url.password !== '') return `Telemetry forwarding is off: the endpoint in ${source} contains credentials; give a bearer token instead.`;
  // Telemetry is metadata about people's prompts: it leaves the machine encrypted (the seed says "HTTPS only").
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopback(host))) {
    return `Telemetry forwarding is off: the endpoint in ${source} (${url.origin}) must use https (plain http only to this machine).`;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------
// Payload

const seedThreatLevel = z.enum(['low', 'medium', 'high', 'critical']);
const source = z.enum(['chat', 'file_upload']);
const name = z.string().max(512);
const LIST_ITEMS = 256;
const MAP_KEYS = 256;

/**
 * The seed's telemetry payload, field for field. Used to re-check every payload before it is queued:
 * z.object drops any field the seed does not have, so nothing else (content, keys) can ride along.
 */
export const TelemetryPayload = z.object({
  timestamp: z.iso.datetime({ offset: true }),
  event_type: z.enum(['scan', 'blocked', 'allowed']),
  context: z.object({ type: source, source }),
  scan_result: z.object({
    flagged: z.boolean(),
    categories: z.record(name, z.boolean()).refine((v) => Object.keys(v).length <= MAP_KEYS, `at most ${MAP_KEYS} keys`),
    scores: z.record(name, z.number()).refine((v) => Object.keys(v).length <= MAP_KEYS, `at most ${MAP_KEYS} keys`),
    threat_level: seedThreatLevel,
  }),
  metadata: z.object({
    user_ip: name.optional(),
    file_name: z.string().max(1024).optional(),
    file_type: name.optional(),
    file_size: z.number().int().nonnegative().optional(),
    message_length: z.number().int().nonnegative().optional(),
    detected_patterns: z.array(name).max(LIST_ITEMS).optional(),
  }),
  project_id: name.optional(),
});
export type TelemetryPayload = z.infer<typeof TelemetryPayload>;

/**
 * What one scan contributes to telemetry. There is deliberately no content field: the payload is built
 * from these fields only, so a caller cannot pass the scanned text even by accident.
 */
export interface TelemetryScanEvent {
  /** When the scan happened. Default: now. */
  timestamp?: Date | string;
  eventType: 'scan' | 'blocked' | 'allowed';
  /** `chat` for prompts and answers, `file_upload` for attached files (the seed's `context.type/source`). */
  source: 'chat' | 'file_upload';
  flagged: boolean;
  /** Category → detected (a count from a scanner counts as detected when above 0). */
  categories?: Readonly<Record<string, boolean | number>>;
  scores?: Readonly<Record<string, number>>;
  /** `none` is sent as `low`: the seed's scale has no `none`, and `flagged: false` already says it. */
  threatLevel: ThreatLevel;
  /** Human-readable names of what matched (never the matched text). */
  detectedPatterns?: readonly string[];
  messageLength?: number;
  file?: { name?: string; type?: string; size?: number };
  /** Sent only when `includeUserIp` is true. */
  userIp?: string;
  projectId?: string;
}

function timestampOf(value: Date | string | undefined, now: () => Date): string {
  const date = value === undefined ? now() : value instanceof Date ? value : new Date(value);
  return Number.isNaN(date.getTime()) ? now().toISOString() : date.toISOString();
}

const isCount = (n: number | undefined): n is number => n !== undefined && Number.isSafeInteger(n) && n >= 0;

/**
 * Builds the seed's payload from a scan event. Only the fields named here are read; `user_ip` only with
 * `includeUserIp: true` (default false). Lists and maps are capped so that one event cannot be huge.
 */
export function toTelemetryPayload(event: TelemetryScanEvent, options: { includeUserIp?: boolean; now?: () => Date } = {}): TelemetryPayload {
  const now = options.now ?? (() => new Date());
  const categories: Record<string, boolean> = {};
  for (const [key, value] of Object.entries(event.categories ?? {}).slice(0, MAP_KEYS)) categories[key.slice(0, 512)] = value === true || (typeof value === 'number' && value > 0);
  const scores: Record<string, number> = {};
  for (const [key, value] of Object.entries(event.scores ?? {}).slice(0, MAP_KEYS)) if (Number.isFinite(value)) scores[key.slice(0, 512)] = value;
  const metadata: TelemetryPayload['metadata'] = {};
  if (options.includeUserIp === true && event.userIp !== undefined && event.userIp !== '') metadata.user_ip = event.userIp.slice(0, 512);
  if (event.file?.name !== undefined) metadata.file_name = event.file.name.slice(0, 1024);
  if (event.file?.type !== undefined) metadata.file_type = event.file.type.slice(0, 512);
  if (isCount(event.file?.size)) metadata.file_size = event.file.size;
  if (isCount(event.messageLength)) metadata.message_length = event.messageLength;
  if (event.detectedPatterns !== undefined) metadata.detected_patterns = event.detectedPatterns.slice(0, LIST_ITEMS).map((p) => p.slice(0, 512));
  const payload: TelemetryPayload = {
    timestamp: timestampOf(event.timestamp, now),
    event_type: event.eventType,
    context: { type: event.source, source: event.source },
    scan_result: { flagged: event.flagged, categories, scores, threat_level: event.threatLevel === 'none' ? 'low' : event.threatLevel },
    metadata,
  };
  if (event.projectId !== undefined && event.projectId !== '') payload.project_id = event.projectId.slice(0, 512);
  return payload;
}

/** The fields of an audit event (daemon/protocol/entry.ts `IngestEvent`) that telemetry uses; the rest is ignored. */
const AuditEventFields = z.object({
  kind: z.string(),
  ts: z.string().optional(),
  event_type: z.enum(['scan', 'blocked', 'allowed']).optional(),
  decision: z.string().optional(),
  threat_level: z.enum(['none', 'low', 'medium', 'high', 'critical']).optional(),
  scanner: z
    .object({
      flagged: z.boolean().optional(),
      categories: z.record(z.string(), z.union([z.boolean(), z.number()])).optional(),
      scores: z.record(z.string(), z.number()).optional(),
      detected_patterns: z.array(z.string()).optional(),
      error: z.unknown().optional(),
    })
    .optional(),
  message_length: z.number().optional(),
  file: z.object({ name: z.string().optional(), type: z.string().optional(), size: z.number().optional() }).optional(),
  project_id: z.string().optional(),
  actor: z.object({ ip: z.string().optional() }).optional(),
});

/**
 * The telemetry view of an audit event as the chat records it (`buildScanEvent`), or undefined when the
 * event is not a scan or the scan failed: the seed's payload cannot say "error", and sending a failed scan
 * as `flagged: false` would report it as clean.
 */
export function telemetryEventFromAuditEvent(event: Readonly<Record<string, unknown>>): TelemetryScanEvent | undefined {
  const parsed = AuditEventFields.safeParse(event);
  if (!parsed.success) return undefined;
  const e = parsed.data;
  if (e.kind !== 'chat.input' && e.kind !== 'chat.output' && e.kind !== 'file.upload') return undefined;
  if (e.decision === 'error' || e.scanner === undefined || e.scanner.error !== undefined || e.scanner.flagged === undefined) return undefined;
  const result: TelemetryScanEvent = {
    eventType: e.event_type ?? (e.decision === 'blocked' ? 'blocked' : e.decision === 'allowed' ? 'allowed' : 'scan'),
    source: e.kind === 'file.upload' ? 'file_upload' : 'chat',
    flagged: e.scanner.flagged,
    categories: e.scanner.categories ?? {},
    scores: e.scanner.scores ?? {},
    threatLevel: e.threat_level ?? (e.scanner.flagged ? 'medium' : 'none'),
    detectedPatterns: e.scanner.detected_patterns ?? [],
  };
  if (e.ts !== undefined) result.timestamp = e.ts;
  if (e.message_length !== undefined) result.messageLength = e.message_length;
  if (e.file !== undefined) result.file = e.file;
  if (e.project_id !== undefined) result.projectId = e.project_id;
  if (e.actor?.ip !== undefined) result.userIp = e.actor.ip;
  return result;
}

// ---------------------------------------------------------------------------------------------------------
// Forwarder

export interface TelemetryForwarderOptions {
  /** The endpoint from {@link resolveForwarderConfig}. A Lakera or otherwise unusable one starts stopped. */
  endpoint: string;
  /** Sent as `Authorization: Bearer` (from SecretStorage). Never logged. */
  token?: string;
  /** Keep `metadata.user_ip` in queued payloads. Default false: it is removed even if a payload has it. */
  includeUserIp?: boolean;
  /** Payloads waiting to be sent; when full the oldest is dropped. Default 1000. */
  maxQueue?: number;
  /** Attempts per payload for retryable failures (network, timeout, 408, 429, 5xx). Default 5. */
  maxAttempts?: number;
  /** First backoff delay in ms, doubled per attempt. Default 1000. */
  baseDelayMs?: number;
  /** Longest backoff delay in ms. Default 60 000. */
  maxDelayMs?: number;
  /** Timeout of one POST in ms. Default 10 000. */
  timeoutMs?: number;
  log?: (message: string) => void;
  fetch?: typeof fetch;
  /** In [0, 1): the jitter source. Default Math.random. */
  random?: () => number;
  /** Waits `ms`, or less when `signal` aborts (dispose). Default: a timer. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

export interface ForwarderStats {
  /** Payloads the endpoint accepted (2xx). */
  sent: number;
  /** Payloads never attempted: pushed out of a full queue, invalid, or still queued when forwarding stopped. */
  dropped: number;
  /** Payloads given up on: retries exhausted, refused (4xx), or the one that met a 401/403/404. */
  failed: number;
  /** Forwarding stopped for good (404, 401/403, redirect, unusable endpoint). */
  stopped: boolean;
  /** Payloads waiting (not counting the one being sent). */
  queue: number;
}

const DEFAULTS = { maxQueue: 1000, maxAttempts: 5, baseDelayMs: 1000, maxDelayMs: 60_000, timeoutMs: 10_000 } as const;
/** A Retry-After longer than this is not worth holding the queue for; the item's attempts run out instead. */
const MAX_RETRY_AFTER_MS = 10 * 60_000;

type Outcome =
  | { kind: 'sent' }
  | { kind: 'retry'; reason: string; retryAfterMs?: number }
  | { kind: 'refused'; reason: string }
  | { kind: 'stop'; message: string }
  | { kind: 'disposed' };

function defaultSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}


function positive(value: number | undefined, fallback: number, what: string): number {
  const n = value ?? fallback;
  if (!Number.isFinite(n) || n <= 0) throw new RangeError(`TelemetryForwarder: ${what} must be a positive number`);
  return n;
}

/**
 * Sends queued payloads one at a time, in order, with retries. Owned by the extension's activation and
 * disposed with it; telemetry is best effort, so whatever is still queued at dispose is let go.
 */
export class TelemetryForwarder {
  readonly #endpoint: string;
  readonly #where: string;
  readonly #token: string | undefined;
  readonly #includeUserIp: boolean;
  readonly #maxQueue: number;
  readonly #maxAttempts: number;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #timeoutMs: number;
  readonly #log: (message: string) => void;
  readonly #fetch: typeof fetch;
  readonly #random: () => number;
  readonly #sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Aborted by dispose: cancels the request in flight and the backoff sleep. */
  readonly #lifetime = new AbortController();
  #queue: TelemetryPayload[] = [];
  #running = false;
  #stopped = false;
  #disposed = false;
  #sent = 0;
  #dropped = 0;
  #failed = 0;
  /** Kinds of trouble already logged: each is logged once, then only counted, so a bad endpoint cannot flood the log. */
  readonly #logged = new Set<string>();
  #idleWaiters: Array<() => void> = [];

  constructor(options: TelemetryForwarderOptions) {
    this.#maxQueue = Math.floor(positive(options.maxQueue, DEFAULTS.maxQueue, 'maxQueue'));
    this.#maxAttempts = Math.floor(positive(options.maxAttempts, DEFAULTS.maxAttempts, 'maxAttempts'));
    this.#baseDelayMs = positive(options.baseDelayMs, DEFAULTS.baseDelayMs, 'baseDelayMs');
    this.#maxDelayMs = positive(options.maxDelayMs, DEFAULTS.maxDelayMs, 'maxDelayMs');
    this.#timeoutMs = positive(options.timeoutMs, DEFAULTS.timeoutMs, 'timeoutMs');
    const token = options.token?.trim();
    this.#token = token === undefined || token === '' ? undefined : token;
    this.#includeUserIp = options.includeUserIp === true;
    this.#log = options.log ?? (() => undefined);
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#random = options.random ?? Math.random;
    this.#sleep = options.sleep ?? defaultSleep;
    this.#endpoint = options.endpoint.trim();
    let where = 'the configured endpoint';
    try {
      where = new URL(this.#endpoint).origin;
    } catch {
      // Reported by endpointProblem below.
    }
    this.#where = where;
    // Checked again here so that a forwarder built without resolveForwarderConfig still never posts to Lakera.
    const problem = endpointProblem(this.#endpoint, 'the telemetry forwarder');
    if (problem !== undefined) this.#stop(problem);
  }

  get stats(): ForwarderStats {
    return { sent: this.#sent, dropped: this.#dropped, failed: this.#failed, stopped: this.#stopped, queue: this.#queue.length };
  }

  /** Queues one payload and returns at once. Never throws, never waits for the network. */
  enqueue(payload: TelemetryPayload): void {
    try {
      if (this.#stopped || this.#disposed) return;
      const checked = TelemetryPayload.safeParse(payload);
      if (!checked.success) {
        this.#dropped++;
        this.#logOnce('invalid', `Telemetry: a payload does not have the telemetry shape and was dropped (${checked.error.issues[0]?.path.join('.') ?? '?'}).`);
        return;
      }
      const clean = checked.data;
      if (!this.#includeUserIp) delete clean.metadata.user_ip;
      if (this.#queue.length >= this.#maxQueue) {
        this.#queue.shift();
        this.#dropped++;
        this.#logOnce('full', `Telemetry: the queue is full (${this.#maxQueue} events); the oldest events are dropped while ${this.#where} catches up.`);
      }
      this.#queue.push(clean);
      if (!this.#running) void this.#run();
    } catch (error: unknown) {
      this.#logOnce('internal', `Telemetry: an event could not be queued: ${this.#redact(String(error))}`);
    }
  }

  /** Resolves when nothing is queued or in flight (or forwarding stopped, or the forwarder was disposed). */
  idle(): Promise<void> {
    if (!this.#running || this.#disposed) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Stops sending, cancels the request in flight and any backoff wait, and lets the queue go. Idempotent. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#lifetime.abort();
    this.#queue = [];
    this.#wakeIdle();
  }

  async #run(): Promise<void> {
    this.#running = true;
    try {
      for (;;) {
        if (this.#stopped || this.#disposed) break;
        const item = this.#queue.shift();
        if (item === undefined) break;
        await this.#deliver(item);
      }
    } catch (error: unknown) {
      this.#logOnce('internal', `Telemetry: the sender failed: ${this.#redact(String(error))}`);
    } finally {
      this.#running = false;
      this.#wakeIdle();
    }
  }

  async #deliver(item: TelemetryPayload): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const outcome = await this.#post(item);
      switch (outcome.kind) {
        case 'sent':
          this.#sent++;
          return;
        case 'disposed':
          return;
        case 'stop':
          this.#failed++;
          this.#stop(outcome.message);
          return;
        case 'refused':
          this.#failed++;
          this.#logOnce(`refused:${outcome.reason}`, `Telemetry: ${this.#where} refused an event (${outcome.reason}); it was dropped. Later refusals are counted, not logged.`);
          return;
        case 'retry': {
          if (attempt >= this.#maxAttempts) {
            this.#failed++;
            this.#logOnce('gave-up', `Telemetry: gave up on an event after ${attempt} attempts (last: ${outcome.reason}). Later failures are counted, not logged.`);
            return;
          }
          await this.#sleep(outcome.retryAfterMs ?? this.#backoff(attempt), this.#lifetime.signal);
          if (this.#disposed) return;
        }
      }
    }
  }

  /**
   * Exponential backoff with "equal jitter": half the exponential delay plus a random part of the other
   * half, so delays still grow but clients do not retry in lockstep.
   * https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/
   */
  #backoff(attempt: number): number {
    const exponential = Math.min(this.#maxDelayMs, this.#baseDelayMs * 2 ** (attempt - 1));
    return exponential / 2 + this.#random() * (exponential / 2);
  }

  async #post(item: TelemetryPayload): Promise<Outcome> {
    const deadline = timeoutSignal(this.#timeoutMs, this.#lifetime.signal);
    try {
      const response = await this.#fetch(this.#endpoint, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', ...(this.#token === undefined ? {} : { Authorization: `Bearer ${this.#token}` }) },
        body: JSON.stringify(item),
        signal: deadline.signal,
        // A redirect could carry the token to another host; an endpoint that moved is a configuration to fix.
        redirect: 'manual',
      });
      // The answer's body is of no use; cancelling it frees the connection.
      void response.body?.cancel().catch(() => undefined);
      return this.#judge(response);
    } catch (error: unknown) {
      if (this.#disposed) return { kind: 'disposed' };
      if (deadline.timedOut()) return { kind: 'retry', reason: `no answer within ${this.#timeoutMs} ms` };
      return { kind: 'retry', reason: this.#redact(describeNetworkError(error)) };
    } finally {
      deadline.dispose();
    }
  }

  #judge(response: Response): Outcome {
    const status = response.status;
    if (status >= 200 && status < 300) return { kind: 'sent' };
    if (status === 404 || status === 410) {
      return {
        kind: 'stop',
        message: `Telemetry: the telemetry endpoint ${this.#where} answered ${status} — it does not exist; forwarding stopped. Check aiAuditTrail.telemetry.endpoint (or ${TELEMETRY_ENV.endpoint}).`,
      };
    }
    if (status === 401 || status === 403) {
      return {
        kind: 'stop',
        message: `Telemetry: the telemetry endpoint ${this.#where} refused the request (HTTP ${status}: ${this.#token === undefined ? 'it needs a token' : 'the token is not accepted'}); forwarding stopped.`,
      };
    }
    if (status >= 300 && status < 400) {
      return { kind: 'stop', message: `Telemetry: the telemetry endpoint ${this.#where} answered with a redirect (HTTP ${status}); forwarding stopped. Configure the final URL.` };
    }
    if (status === 408 || status === 429 || status >= 500) {
      const waitRaw = retryAfterMs(response.headers.get('retry-after'));
      const wait = waitRaw === undefined ? undefined : Math.min(waitRaw, MAX_RETRY_AFTER_MS);
      return { kind: 'retry', reason: `HTTP ${status}`, ...(wait === undefined ? {} : { retryAfterMs: wait }) };
    }
    return { kind: 'refused', reason: `HTTP ${status}` };
  }

  /** Stops for good with one warning: drops the queue and ignores later events. */
  #stop(message: string): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#dropped += this.#queue.length;
    this.#queue = [];
    this.#log(this.#redact(message));
    this.#wakeIdle();
  }

  #logOnce(kind: string, message: string): void {
    if (this.#logged.has(kind)) return;
    this.#logged.add(kind);
    this.#log(this.#redact(message));
  }

  #redact(text: string): string {
    return this.#token === undefined ? text : text.split(this.#token).join('[redacted]');
  }

  #wakeIdle(): void {
    if (this.#running && !this.#stopped && !this.#disposed) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const wake of waiters) wake();
  }
}
