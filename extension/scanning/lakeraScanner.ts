import { z } from 'zod';
import { causeWithoutSecret, describeNetworkError, retryAfterSeconds, timeoutSignal } from '../http/httpFailures.ts';
import { ScanError, type ScanRequest, type ScanVerdict, type Scanner } from './scanner.ts';

/** The entry's threat level, taken from the verdict type (daemon/protocol/entry.ts defines it). */
type ThreatLevel = ScanVerdict['threat_level'];

/**
 * Lakera Guard client (`POST /v2/guard`), following shared/contracts/lakera-guard.md.
 * https://docs.lakera.ai/api-reference/api/endpoints/guard/screen-content
 */
export interface LakeraScannerOptions {
  /** A Guard API key (not a Platform key). Sent as `Authorization: Bearer`; never put in an error. */
  apiKey: string;
  /** Default `https://api.lakera.ai`; regional hosts are unconfirmed, self-hosted deployments differ. */
  baseUrl?: string;
  /** Selects the project's policy. Omitted or empty: Lakera's default policy, which is strict. */
  projectId?: string;
  /** Timeout of one call including reading the answer, in ms. Default 5000 (latency-sensitive plugins use 1–5 s). */
  timeoutMs?: number;
  /** Characters of content accepted for one scan. Default 100 000, under the 128 KB limit of Lakera's docs. */
  maxContentChars?: number;
  /** For tests: the `fetch` to use. Default: the global one. */
  fetch?: typeof fetch;
}

type LakeraMessage = { role: 'system' | 'user' | 'assistant'; content: string };

/** The request body; `payload` stays off so that matched PII never comes back to us. */
interface GuardRequestBody {
  messages: LakeraMessage[];
  project_id?: string;
  breakdown: true;
  payload: false;
  metadata: ScanRequest['metadata'];
}

/** The part of the answer we use. Unknown fields are dropped; a missing `breakdown` means "not requested". */
const GuardResponse = z.object({
  flagged: z.boolean(),
  metadata: z.object({ request_uuid: z.string().max(512).optional() }).optional(),
  breakdown: z
    .array(
      z.object({
        detector_type: z.string().min(1).max(256),
        detected: z.boolean(),
        detector_id: z.string().max(256).optional(),
      }),
    )
    .max(4096)
    .optional(),
});
type GuardResponse = z.infer<typeof GuardResponse>;

const DEFAULT_BASE_URL = 'https://api.lakera.ai';
const DEFAULT_TIMEOUT_MS = 5000;
const DEFAULT_MAX_CONTENT_CHARS = 100_000;
/** Lakera answers are a few KB; anything far larger is a proxy page or worse, and is not worth reading whole. */
const MAX_RESPONSE_BYTES = 1024 * 1024;
/** The contract advises logging the status plus about 300 characters of an error body, not parsing it. */
const BODY_SNIPPET_CHARS = 300;
/** The audit entry caps list items (daemon/protocol/entry.ts `Limits.listItems`). */
const MAX_LIST_ITEMS = 256;

const WORDS: Record<string, string> = {
  pii: 'PII',
  ip: 'IP',
  iban: 'IBAN',
  us: 'US',
  url: 'URL',
  urls: 'URLs',
  api: 'API',
};

function humanize(part: string): string {
  return part
    .split(/[_\s-]+/)
    .filter((w) => w !== '')
    .map((w) => WORDS[w.toLowerCase()] ?? w.toLowerCase())
    .join(' ');
}

function capitalize(text: string): string {
  return text.length === 0 ? text : text.charAt(0).toUpperCase() + text.slice(1);
}

/**
 * A readable name for a Lakera detector type: `prompt_attack` → "Prompt attack", `pii/email` →
 * "PII: email", `moderated_content/hate` → "Moderated content: hate". Unknown types are named the same way,
 * since the contract says to treat `detector_type` as an open string grouped by the prefix before `/`.
 */
export function readableDetectorName(detectorType: string): string {
  // The payload spells it `unknown_link`, the breakdown `unknown_links` (contract §5).
  if (detectorType === 'unknown_link') return 'Unknown links';
  const [family = '', ...rest] = detectorType.split('/');
  const head = capitalize(humanize(family));
  return rest.length === 0 ? head : `${head}: ${rest.map(humanize).join(' / ')}`;
}

/** Reads at most `limit` bytes of a body; `truncated` says there was more (which is then discarded). */
async function readBounded(response: Response, limit: number): Promise<{ text: string; truncated: boolean }> {
  if (response.body === null) return { text: '', truncated: false };
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let truncated = false;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (size + value.byteLength > limit) {
      chunks.push(value.subarray(0, limit - size));
      truncated = true;
      await reader.cancel();
      break;
    }
    chunks.push(value);
    size += value.byteLength;
  }
  const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return { text: new TextDecoder().decode(bytes), truncated };
}

/** Scans with Lakera Guard. Every failure rejects with a {@link ScanError}; none is read as "not flagged". */
export class LakeraScanner implements Scanner {
  readonly name = 'lakera' as const;
  readonly #apiKey: string;
  readonly #endpoint: string;
  readonly #projectId: string | undefined;
  readonly #timeoutMs: number;
  readonly #maxContentChars: number;
  readonly #fetch: typeof fetch;

  constructor(options: LakeraScannerOptions) {
    if (typeof options.apiKey !== 'string' || options.apiKey.trim() === '') throw new TypeError('LakeraScanner: apiKey is required');
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new RangeError('LakeraScanner: timeoutMs must be a positive number of milliseconds');
    const maxContentChars = options.maxContentChars ?? DEFAULT_MAX_CONTENT_CHARS;
    if (!Number.isInteger(maxContentChars) || maxContentChars <= 0) throw new RangeError('LakeraScanner: maxContentChars must be a positive integer');
    const base = new URL(options.baseUrl === undefined || options.baseUrl.trim() === '' ? DEFAULT_BASE_URL : options.baseUrl.trim());
    if (base.protocol !== 'https:' && base.protocol !== 'http:') throw new TypeError('LakeraScanner: baseUrl must be an http(s) URL');
    // Keep a path prefix (self-hosted behind a reverse proxy), but not a doubled slash.
    this.#endpoint = `${base.origin}${base.pathname.replace(/\/+$/, '')}/v2/guard`;
    this.#apiKey = options.apiKey.trim();
    this.#projectId = options.projectId === undefined || options.projectId.trim() === '' ? undefined : options.projectId.trim();
    this.#timeoutMs = timeoutMs;
    this.#maxContentChars = maxContentChars;
    this.#fetch = options.fetch ?? globalThis.fetch;
  }

  async scan(request: ScanRequest): Promise<ScanVerdict> {
    const started = performance.now();
    const elapsed = (): number => Math.round(performance.now() - started);
    const fail = (code: string, message: string, extra: { status?: number; cause?: unknown } = {}): ScanError =>
      new ScanError('lakera', code, this.#redact(message), { latencyMs: elapsed(), ...extra });

    if (request.signal?.aborted === true) throw fail('aborted', 'The Lakera scan was cancelled before it started.');
    if (request.content.length > this.#maxContentChars) {
      // Refused here rather than truncated: a scan of part of the text must not pass for a scan of all of it.
      throw fail(
        'too_large',
        `The content is ${request.content.length} characters; the Lakera scan limit is ${this.#maxContentChars} characters. Nothing was sent to Lakera.`,
      );
    }

    const body: GuardRequestBody = {
      messages: this.#messages(request),
      ...(this.#projectId === undefined ? {} : { project_id: this.#projectId }),
      breakdown: true,
      payload: false,
      metadata: request.metadata,
    };

    const deadline = timeoutSignal(this.#timeoutMs, request.signal);
    // Which of the two aborted decides the code: our timeout is a Lakera failure, the caller's is not.
    const abortError = (cause: unknown): ScanError =>
      deadline.timedOut()
        ? fail('timeout', `Lakera Guard did not answer within ${this.#timeoutMs} ms.`, { cause })
        : fail('aborted', 'The Lakera scan was cancelled.', { cause });

    try {
      let response: Response;
      try {
        response = await this.#fetch(this.#endpoint, {
          method: 'POST',
          headers: { Authorization: `Bearer ${this.#apiKey}`, 'Content-Type': 'application/json', Accept: 'application/json' },
          body: JSON.stringify(body),
          signal: deadline.signal,
          // A redirect is never part of the API; following one could hand the key to another host.
          redirect: 'manual',
        });
      } catch (error: unknown) {
        if (deadline.signal.aborted) throw abortError(undefined);
        throw fail('network', `Could not reach Lakera Guard at ${new URL(this.#endpoint).host}: ${describeNetworkError(error)}`, {
          cause: this.#safeCause(error),
        });
      }

      let text: string;
      let truncated: boolean;
      try {
        ({ text, truncated } = await readBounded(response, MAX_RESPONSE_BYTES));
      } catch (error: unknown) {
        if (deadline.signal.aborted) throw abortError(undefined);
        throw fail('network', `The connection to Lakera Guard failed while reading the answer: ${describeNetworkError(error)}`, {
          status: response.status,
          cause: this.#safeCause(error),
        });
      }

      if (!response.ok) throw this.#httpError(response, text, fail);
      if (truncated) throw fail('bad_response', `Lakera Guard's answer was larger than ${MAX_RESPONSE_BYTES} bytes; it is not a Guard response.`, { status: response.status });
      return this.#verdict(this.#parse(response, text, fail), elapsed());
    } finally {
      deadline.dispose();
    }
  }

  /**
   * History, then the scanned content as the message it will be (`user` for prompts and files,
   * `assistant` for answers). Lakera judges the last user/assistant pair, so the conversation ending with
   * the user's prompt is what makes an answer's pair; earlier turns give context.
   */
  #messages(request: ScanRequest): LakeraMessage[] {
    const history = (request.history ?? []).map(({ role, content }) => ({ role, content }));
    const role = request.target === 'output' ? 'assistant' : 'user';
    // Older turns were screened when they happened (contract §2.1); they are dropped, oldest first, when
    // they would make the request larger than the content limit allows, so that history alone never
    // pushes a call over Lakera's size limit. The last user message stays for an answer's pair.
    let budget = this.#maxContentChars - request.content.length;
    const kept: LakeraMessage[] = [];
    let lastUserKept = request.target !== 'output';
    for (let i = history.length - 1; i >= 0; i--) {
      const message = history[i];
      if (message === undefined) continue;
      const mustKeep = !lastUserKept && message.role === 'user';
      if (message.content.length > budget && !mustKeep) {
        if (lastUserKept) break;
        continue;
      }
      if (message.role === 'user') lastUserKept = true;
      budget -= message.content.length;
      kept.unshift(message);
      if (budget <= 0 && lastUserKept) break;
    }
    return [...kept, { role, content: request.content }];
  }

  #parse(response: Response, text: string, fail: (code: string, message: string, extra?: { status?: number }) => ScanError): GuardResponse {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      // Typically a corporate proxy's block page or a captive portal answering 200 with HTML.
      const type = response.headers.get('content-type') ?? 'no content type';
      throw fail('bad_response', `Lakera Guard's answer is not JSON (${type}); a proxy may be intercepting the call: ${this.#snippet(text)}`, {
        status: response.status,
      });
    }
    const parsed = GuardResponse.safeParse(json);
    if (!parsed.success) {
      const issues = parsed.error.issues
        .slice(0, 5)
        .map((i) => `${i.path.length === 0 ? '(root)' : i.path.join('.')}: ${i.message}`)
        .join('; ');
      throw fail('bad_response', `Lakera Guard's answer does not have the expected shape: ${issues}`, { status: response.status });
    }
    return parsed.data;
  }

  #httpError(response: Response, text: string, fail: (code: string, message: string, extra?: { status?: number }) => ScanError): ScanError {
    const status = response.status;
    const detail = text.trim() === '' ? '' : `: ${this.#snippet(text)}`;
    const extra = { status };
    if (status === 401) return fail('http_401', `Lakera Guard rejected the API key (HTTP 401). Set a valid Guard API key (not a Platform key)${detail}`, extra);
    if (status === 403) return fail('http_403', `Lakera Guard refused the request (HTTP 403): the key may not have access to this project or processing region${detail}`, extra);
    if (status === 413) return fail('too_large', `Lakera Guard refused the request as too large (HTTP 413)${detail}`, extra);
    if (status === 429) {
      const retry = retryAfterSeconds(response.headers.get('retry-after'));
      const when = retry === undefined ? '' : ` Retry after ${retry} s.`;
      return fail('http_429', `Lakera Guard's rate limit or quota is exhausted (HTTP 429).${when}${detail}`, extra);
    }
    if (status >= 500) return fail('http_5xx', `Lakera Guard failed (HTTP ${status})${detail}`, extra);
    if (status >= 300 && status < 400) {
      return fail('bad_response', `Lakera Guard answered with a redirect (HTTP ${status}); a proxy may be intercepting the call`, extra);
    }
    return fail('http_4xx', `Lakera Guard refused the request (HTTP ${status})${detail}`, extra);
  }

  #verdict(response: GuardResponse, latencyMs: number): ScanVerdict {
    const categories: Record<string, boolean> = {};
    const detectors = new Set<string>();
    const patterns = new Set<string>();
    for (const item of response.breakdown ?? []) {
      // One entry per detector type and message: a type counts as detected if any of its entries did.
      categories[item.detector_type] = (categories[item.detector_type] ?? false) || item.detected;
      if (!item.detected) continue;
      detectors.add(item.detector_id ?? item.detector_type);
      patterns.add(readableDetectorName(item.detector_type));
    }
    // Flagged by a policy detector that the breakdown does not name: still say so, never an empty finding.
    if (response.flagged && patterns.size === 0) patterns.add('Flagged by the Lakera policy (no detector named)');
    const threat: ThreatLevel = !response.flagged ? 'none' : categories['prompt_attack'] === true ? 'high' : 'medium';
    const verdict: ScanVerdict = {
      scanner: 'lakera',
      flagged: response.flagged,
      categories,
      // Lakera v2 returns no scores; inventing some would make the audit trail say what Lakera never said.
      scores: {},
      detectors_triggered: [...detectors].slice(0, MAX_LIST_ITEMS),
      detected_patterns: [...patterns].slice(0, MAX_LIST_ITEMS),
      threat_level: threat,
      latency_ms: latencyMs,
    };
    const uuid = response.metadata?.request_uuid;
    if (uuid !== undefined) verdict.request_uuid = uuid;
    return verdict;
  }

  /** The start of a body for an error message, on one line and without the key (a proxy may echo headers). */
  #snippet(text: string): string {
    const line = text.replace(/\s+/g, ' ').trim();
    return this.#redact(line.length > BODY_SNIPPET_CHARS ? `${line.slice(0, BODY_SNIPPET_CHARS)}…` : line);
  }

  #redact(text: string): string {
    return text.split(this.#apiKey).join('[redacted]');
  }

  /** The error as a cause, unless anything in its chain mentions the key (then it is left out). */
  #safeCause(error: unknown): unknown {
    return causeWithoutSecret(error, this.#apiKey);
  }
}
