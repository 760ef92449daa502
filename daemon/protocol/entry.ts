import { z } from 'zod';

/**
 * The audit entry (v1) and the ingest event it is made from.
 *
 * An event is what a producer sends; an entry is what the daemon stores after it has stamped `seq`, `id`
 * and `recorded_at`, normalized `decision`, converted `input`/`output` to the content mode and chained
 * the hash. Field names follow the five input documents where they have one (see docs/entry.md for the
 * mapping to each of them and to the OpenTelemetry GenAI conventions).
 */

export const ENTRY_VERSION = 1;

/** Producer kinds, plus `audit.*` entries that the daemon itself writes (decrypt, retention, keys, …). */
export const EventKind = z.enum(['chat.input', 'chat.output', 'file.upload', 'mcp.call', 'governance.check']);
export type EventKind = z.infer<typeof EventKind>;
export const AuditKind = z.enum([
  'audit.decrypt',
  'audit.retention',
  'audit.keys.rotate',
  'audit.settings',
  'audit.export',
  'audit.witness',
  'audit.review',
  'audit.access',
  'audit.credentials',
]);
export type AuditKind = z.infer<typeof AuditKind>;
export const EntryKind = z.union([EventKind, AuditKind]);
export type EntryKind = z.infer<typeof EntryKind>;

export const Decision = z.enum(['allowed', 'blocked', 'warned', 'error']);
export type Decision = z.infer<typeof Decision>;
export const EventType = z.enum(['scan', 'blocked', 'allowed']);
export const ThreatLevel = z.enum(['none', 'low', 'medium', 'high', 'critical']);
export type ThreatLevel = z.infer<typeof ThreatLevel>;
export const ContentMode = z.enum(['hash', 'encrypted', 'none']);
export type ContentMode = z.infer<typeof ContentMode>;

/** Bounds that keep one event from bloating the store; documented in docs/protocol.md. */
export const Limits = {
  /** Characters of one short string field (ids, names, models, reasons). */
  shortString: 512,
  /** Characters of `reason` / `block_reason` / alerts. */
  text: 4096,
  /** Characters of `input` or `output` raw content (8 MiB of text). */
  content: 8 * 1024 * 1024,
  /** Keys of a map field (categories, scores, metadata). */
  mapKeys: 256,
  /** Items of a list field. */
  listItems: 256,
  /** Bytes of `metadata` once serialized. */
  metadataBytes: 16 * 1024,
} as const;

const short = z.string().max(Limits.shortString);
const text = z.string().max(Limits.text);
const count = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const finite = z.number().refine(Number.isFinite, 'must be a finite number');
const isoTime = z.iso.datetime({ offset: true });
/**
 * Producers' times: with an offset, or without one, which is taken as UTC (Python's `datetime.utcnow()`
 * in the governance and rotalabs documents writes no offset). Normalized to `…Z` by {@link normalizeEvent}.
 */
const eventTime = z.iso.datetime({ offset: true, local: true });
/** 64 lowercase hex digits: a SHA-256 or HMAC-SHA-256 in hex. */
export const HEX64 = /^[0-9a-f]{64}$/;
const hex64 = z.string().regex(HEX64, 'must be 64 lowercase hex digits');

/** A JSON value, as `metadata` may hold (no undefined, no functions, finite numbers). */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
const jsonValue: z.ZodType<JsonValue> = z.lazy(() =>
  z.union([
    z.string().max(Limits.text),
    finite,
    z.boolean(),
    z.null(),
    z.array(jsonValue).max(Limits.listItems),
    z.record(z.string().max(Limits.shortString), jsonValue),
  ]),
);
const metadata = z
  .record(short, jsonValue)
  .refine((value) => Object.keys(value).length <= Limits.mapKeys, `at most ${Limits.mapKeys} keys`)
  .refine((value) => JSON.stringify(value).length <= Limits.metadataBytes, `at most ${Limits.metadataBytes} bytes`);

const boundedRecord = <T extends z.ZodType>(value: T) =>
  z.record(short, value).refine((v) => Object.keys(v).length <= Limits.mapKeys, `at most ${Limits.mapKeys} keys`);

export const ScannerError = z.strictObject({
  code: short,
  message: text,
  status: z.number().int().optional(),
});

export const Scanner = z.strictObject({
  name: short.optional(),
  request_uuid: short.optional(),
  flagged: z.boolean().optional(),
  /** Category → detected (Lakera breakdown, telemetry `categories`) or a count. */
  categories: boundedRecord(z.union([z.boolean(), finite])).optional(),
  /** Category → score in whatever scale the scanner reports (documented per scanner). */
  scores: boundedRecord(finite).optional(),
  detectors_triggered: z.array(short).max(Limits.listItems).optional(),
  detected_patterns: z.array(short).max(Limits.listItems).optional(),
  latency_ms: finite.nonnegative().optional(),
  error: ScannerError.optional(),
});
export type Scanner = z.infer<typeof Scanner>;

export const Actor = z.strictObject({
  user_id: short.optional(),
  session_id: short.optional(),
  workspace: short.optional(),
  ip: short.optional(),
  /** The program that asked, as it names itself (`ai-audit-cli/0.1.0`); set by the daemon on `audit.*` entries. */
  client: short.optional(),
});
export type Actor = z.infer<typeof Actor>;

export const Mcp = z.strictObject({
  server: short.optional(),
  call_type: short.optional(),
  tool: short.optional(),
  status: short.optional(),
});

export const FileInfo = z.strictObject({
  name: short.optional(),
  type: short.optional(),
  size: count.optional(),
  sha256: hex64.optional(),
});

export const Context = z.strictObject({ type: short.optional(), source: short.optional() });

/** Lakera telemetry seed: `scan_result`, accepted as sent and mapped onto `scanner` and `threat_level`. */
export const ScanResult = z.strictObject({
  flagged: z.boolean().optional(),
  categories: boundedRecord(z.union([z.boolean(), finite])).optional(),
  scores: boundedRecord(finite).optional(),
  threat_level: ThreatLevel.optional(),
});

/** Fields shared by events and entries, in the entry's own names. */
const commonFields = {
  kind: EventKind,
  /** When the event happened (producer's clock). Defaults to the daemon's receive time. */
  ts: eventTime.optional(),
  event_type: EventType.optional(),
  decision: Decision.optional(),
  allowed: z.boolean().optional(),
  safety_passed: z.boolean().optional(),
  reason: text.optional(),
  block_reason: text.optional(),
  risk_score: finite.optional(),
  threat_level: ThreatLevel.optional(),
  context: Context.optional(),
  scanner: Scanner.optional(),
  actor: Actor.optional(),
  provider: short.optional(),
  model: short.optional(),
  operation: short.optional(),
  conversation_id: short.optional(),
  project_id: short.optional(),
  customer_id: short.optional(),
  api_key_id: short.optional(),
  /** The producer's own id for the event (the governance row's `id`). The daemon assigns `id`. */
  source_id: short.optional(),
  mcp: Mcp.optional(),
  latency_ms: finite.nonnegative().optional(),
  input_tokens: count.optional(),
  output_tokens: count.optional(),
  alerts: z.array(text).max(Limits.listItems).optional(),
  metadata: metadata.optional(),
  /** Makes a resend return the original ack instead of storing a second entry. */
  idempotency_key: short.min(1).optional(),
};

/**
 * One event as a producer sends it. Besides the entry's own names it accepts the seeds' names
 * (`timestamp`, `created_at`, `meta`, `scan_result`, `user_id`, `session_id`, `user_ip`, `mcp_server`,
 * `call_type`, `response_status`, `id`, `detectors_triggered`), which {@link normalizeEvent} maps onto the entry's.
 */
export const IngestEvent = z.strictObject({
  ...commonFields,
  /** Raw prompt / file text. Never stored as sent: converted to the content mode. */
  input: z.string().max(Limits.content).optional(),
  /** Raw answer text. Never stored as sent: converted to the content mode. */
  output: z.string().max(Limits.content).optional(),
  /** Overrides the daemon's default content mode for this event. */
  content_mode: ContentMode.optional(),
  file: FileInfo.optional(),
  message_length: count.optional(),
  // Seed aliases.
  timestamp: eventTime.optional(),
  created_at: eventTime.optional(),
  meta: metadata.optional(),
  scan_result: ScanResult.optional(),
  user_id: short.optional(),
  session_id: short.optional(),
  user_ip: short.optional(),
  mcp_server: short.optional(),
  call_type: short.optional(),
  response_status: short.optional(),
  id: short.optional(),
  detectors_triggered: z.array(short).max(Limits.listItems).optional(),
});
export type IngestEvent = z.infer<typeof IngestEvent>;

/** An event with the seeds' aliases mapped onto the entry's names, ready for the daemon to stamp. */
export type NormalizedEvent = Omit<
  IngestEvent,
  | 'timestamp'
  | 'created_at'
  | 'meta'
  | 'scan_result'
  | 'user_id'
  | 'session_id'
  | 'user_ip'
  | 'mcp_server'
  | 'call_type'
  | 'response_status'
  | 'id'
  | 'detectors_triggered'
>;

export const EncryptedField = z.string().regex(/^v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+$/);

export const Content = z.strictObject({
  mode: ContentMode,
  /** HMAC-SHA-256 (hex) of the input under the keyed HMAC key `key_id`. */
  input_hmac: hex64.optional(),
  output_hmac: hex64.optional(),
  /** `v1.<iv>.<ciphertext>.<tag>` (base64url), AES-256-GCM under key `key_id`, AAD = entry id + field. */
  input_enc: EncryptedField.optional(),
  output_enc: EncryptedField.optional(),
  key_id: short.optional(),
  input_length: count.optional(),
  output_length: count.optional(),
  message_length: count.optional(),
  file: FileInfo.optional(),
});
export type Content = z.infer<typeof Content>;

/** What `audit.*` entries record about the operation that produced them. */
export const AuditDetail = z.record(short, jsonValue);

/** A stored entry, as query, tail and exports return it. */
export const Entry = z.strictObject({
  v: z.literal(ENTRY_VERSION),
  seq: count,
  id: z.string(),
  recorded_at: isoTime,
  ...commonFields,
  ts: isoTime,
  kind: EntryKind,
  decision: Decision,
  content: Content,
  audit: AuditDetail.optional(),
  prev: hex64,
  hash: hex64,
});
export type Entry = z.infer<typeof Entry>;

/** The `prev` of the first entry of a store. */
export const GENESIS_HASH = '0'.repeat(64);

/** A time that names its zone (`Z` or an offset). */
const ZONED = /(?:[zZ]|[+-]\d{2}:?\d{2})$/;

/** The seeds' names that {@link normalizeEvent} maps onto the entry's. */
const SEED_ALIASES = new Set([
  'timestamp',
  'created_at',
  'meta',
  'scan_result',
  'user_id',
  'session_id',
  'user_ip',
  'mcp_server',
  'call_type',
  'response_status',
  'id',
  'detectors_triggered',
]);

function hasSeedAlias(event: IngestEvent): boolean {
  for (const key in event) if (SEED_ALIASES.has(key)) return true;
  return false;
}

/**
 * Maps the seeds' field names onto the entry's. Explicit entry fields win over aliases; nothing that was
 * sent is dropped (metadata the seeds nest is kept in `metadata`).
 */
export function normalizeEvent(event: IngestEvent): NormalizedEvent {
  // Most events use the entry's own names only: nothing to map, and no copy (this runs per ingested event).
  if (!hasSeedAlias(event) && (event.ts === undefined || ZONED.test(event.ts))) return event;
  const {
    timestamp,
    created_at,
    meta,
    scan_result,
    user_id,
    session_id,
    user_ip,
    mcp_server,
    call_type,
    response_status,
    id,
    detectors_triggered,
    ...rest
  } = event;
  const out: NormalizedEvent = { ...rest };
  const ts = rest.ts ?? timestamp ?? created_at;
  if (ts !== undefined) out.ts = ZONED.test(ts) ? ts : `${ts}Z`;
  if (meta !== undefined) out.metadata = { ...meta, ...rest.metadata };
  if (id !== undefined && rest.source_id === undefined) out.source_id = id;
  if (scan_result !== undefined) {
    const { threat_level, ...scanner } = scan_result;
    out.scanner = { ...scanner, ...rest.scanner };
    if (threat_level !== undefined && rest.threat_level === undefined) out.threat_level = threat_level;
  }
  if (detectors_triggered !== undefined) {
    out.scanner = { detectors_triggered, ...out.scanner };
  }
  if (user_id !== undefined || session_id !== undefined || user_ip !== undefined) {
    const actor: Actor = {};
    if (user_id !== undefined) actor.user_id = user_id;
    if (session_id !== undefined) actor.session_id = session_id;
    if (user_ip !== undefined) actor.ip = user_ip;
    out.actor = { ...actor, ...rest.actor };
  }
  if (mcp_server !== undefined || call_type !== undefined || response_status !== undefined) {
    const mcp: z.infer<typeof Mcp> = {};
    if (mcp_server !== undefined) mcp.server = mcp_server;
    if (call_type !== undefined) mcp.call_type = call_type;
    if (response_status !== undefined) mcp.status = response_status;
    out.mcp = { ...mcp, ...rest.mcp };
  }
  return out;
}

/**
 * One decision value whichever way the producer said it: explicit `decision`; the governance row's
 * `allowed`; rotalabs' `safety_passed`; the Lakera seeds' `event_type` (`scan` alone is `warned` when the
 * scanner flagged and `allowed` otherwise); a scanner error is `error`; a `block_reason` alone is `blocked`.
 */
export function normalizeDecision(event: NormalizedEvent): Decision {
  if (event.decision !== undefined) return event.decision;
  if (event.allowed !== undefined) return event.allowed ? 'allowed' : 'blocked';
  if (event.safety_passed !== undefined) return event.safety_passed ? 'allowed' : 'blocked';
  if (event.event_type === 'blocked') return 'blocked';
  if (event.event_type === 'allowed') return 'allowed';
  if (event.scanner?.error !== undefined) return 'error';
  if (event.block_reason !== undefined) return 'blocked';
  if (event.scanner?.flagged === true) return 'warned';
  return 'allowed';
}
