import { ContentMode, Decision, EventKind, EventType, HEX64, IngestEvent, Limits, ThreatLevel } from './entry.ts';

/**
 * A fast path in front of {@link IngestEvent}'s zod schema, which stays the contract. zod interprets the
 * schema per event (about 10 µs for a typical chat event, the largest single cost of ingest besides
 * hashing); this check is straight code over the same bounds (about 1 µs).
 *
 * It answers `true` only when zod would accept the value and return data equal to it, so the value itself
 * can be used as the parsed event. `false` means "ask zod": it gives the verdict and the error message. It
 * answers `false` (and leaves the case to zod) for anything `JSON.parse` does not make: objects with
 * another prototype, `undefined` members, symbol keys, sparse arrays; and for `__proto__` keys, which zod
 * drops from records instead of rejecting. test/daemon/protocol/ingestEventFastCheck.test.ts checks on a
 * corpus of every field × many values (boundaries, wrong types, hostile keys) that it agrees with zod.
 */
export function ingestEventFastCheck(value: unknown): value is IngestEvent {
  return isPlain(value) && value.kind !== undefined && fields(EVENT, value);
}

type Check = (value: unknown) => boolean;

function isPlain(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype;
}

/** Every member known to `shape` and valid (an `undefined` member fails, so it goes to zod). */
function fields(shape: ReadonlyMap<string, Check>, record: Record<string, unknown>): boolean {
  for (const key in record) {
    const check = shape.get(key);
    if (check === undefined || !check(record[key])) return false;
  }
  return true;
}

/** A strict object: only the keys of `shape`, the `required` ones present. */
function strict(shape: Record<string, Check>, required: readonly string[] = []): Check {
  const map = new Map(Object.entries(shape));
  return (value) => {
    if (!isPlain(value)) return false;
    for (const key of required) if (value[key] === undefined) return false;
    return fields(map, value);
  };
}

const string =
  (max: number, min = 0): Check =>
  (value) =>
    typeof value === 'string' && value.length <= max && value.length >= min;
const matches =
  (pattern: RegExp): Check =>
  (value) =>
    typeof value === 'string' && pattern.test(value);
const oneOf = (values: readonly string[]): Check => {
  const set = new Set<unknown>(values);
  return (value) => set.has(value);
};
const boolean: Check = (value) => typeof value === 'boolean';
const finite: Check = (value) => typeof value === 'number' && Number.isFinite(value);
const nonNegative: Check = (value) => typeof value === 'number' && Number.isFinite(value) && value >= 0;
/** zod's `.int()` is a safe integer. */
const integer: Check = (value) => Number.isSafeInteger(value);
const count: Check = (value) => Number.isSafeInteger(value) && (value as number) >= 0;
const booleanOrFinite: Check = (value) => typeof value === 'boolean' || finite(value);

function array(item: Check, max: number): Check {
  return (value) => {
    if (!Array.isArray(value) || value.length > max) return false;
    for (let i = 0; i < value.length; i++) if (!item(value[i])) return false;
    return true;
  };
}

/** `z.record(short, item)`: a plain object (zod rejects symbol keys: its key schema is a string). */
function isRecordOf(value: unknown, item: (value: unknown) => boolean, maxKeys: number): boolean {
  if (!isPlain(value) || Object.getOwnPropertySymbols(value).length > 0) return false;
  let keys = 0;
  for (const key in value) {
    if (++keys > maxKeys || key.length > Limits.shortString || key === '__proto__' || !item(value[key])) return false;
  }
  return true;
}

const boundedRecord =
  (item: Check): Check =>
  (value) =>
    isRecordOf(value, item, Limits.mapKeys);

/**
 * Nesting this check follows before it leaves a value to zod; deeper values are far beyond the daemon's
 * shape limits (daemon/protocol/jsonBounds.ts) and are refused before validation there.
 */
const MAX_JSON_DEPTH = 64;

/** `jsonValue` of entry.ts: a bounded string, a finite number, a boolean, null, or bounded lists and records. */
function isJsonValue(value: unknown, depth: number): boolean {
  switch (typeof value) {
    case 'string':
      return value.length <= Limits.text;
    case 'number':
      return Number.isFinite(value);
    case 'boolean':
      return true;
    case 'object': {
      if (value === null) return true;
      if (depth >= MAX_JSON_DEPTH) return false;
      if (Array.isArray(value)) {
        if (value.length > Limits.listItems) return false;
        for (let i = 0; i < value.length; i++) if (!isJsonValue(value[i], depth + 1)) return false;
        return true;
      }
      return isRecordOf(value, (item) => isJsonValue(item, depth + 1), Number.POSITIVE_INFINITY);
    }
    default:
      return false;
  }
}

/** `metadata` / `meta`: a record of JSON values, at most so many keys and bytes once serialized. */
const metadata: Check = (value) =>
  isRecordOf(value, (item) => isJsonValue(item, 1), Limits.mapKeys) && JSON.stringify(value).length <= Limits.metadataBytes;

/** The time pattern zod checks (`z.iso.datetime({ offset: true, local: true })`), taken from the schema itself. */
const eventTimePattern = IngestEvent.shape.ts.unwrap().def.pattern;
const eventTime: Check = eventTimePattern === undefined ? () => false : matches(eventTimePattern);
const short = string(Limits.shortString);
const text = string(Limits.text);
const threatLevel = oneOf(ThreatLevel.options);
const shortList = array(short, Limits.listItems);

const scanner = strict({
  name: short,
  request_uuid: short,
  flagged: boolean,
  categories: boundedRecord(booleanOrFinite),
  scores: boundedRecord(finite),
  detectors_triggered: shortList,
  detected_patterns: shortList,
  latency_ms: nonNegative,
  error: strict({ code: short, message: text, status: integer }, ['code', 'message']),
});

const EVENT: ReadonlyMap<string, Check> = new Map(
  Object.entries({
    kind: oneOf(EventKind.options),
    ts: eventTime,
    event_type: oneOf(EventType.options),
    decision: oneOf(Decision.options),
    allowed: boolean,
    safety_passed: boolean,
    reason: text,
    block_reason: text,
    risk_score: finite,
    threat_level: threatLevel,
    context: strict({ type: short, source: short }),
    scanner,
    actor: strict({ user_id: short, session_id: short, workspace: short, ip: short, client: short }),
    provider: short,
    model: short,
    operation: short,
    conversation_id: short,
    project_id: short,
    customer_id: short,
    api_key_id: short,
    source_id: short,
    mcp: strict({ server: short, call_type: short, tool: short, status: short }),
    latency_ms: nonNegative,
    input_tokens: count,
    output_tokens: count,
    alerts: array(text, Limits.listItems),
    metadata,
    idempotency_key: string(Limits.shortString, 1),
    input: string(Limits.content),
    output: string(Limits.content),
    content_mode: oneOf(ContentMode.options),
    file: strict({ name: short, type: short, size: count, sha256: matches(HEX64) }),
    message_length: count,
    timestamp: eventTime,
    created_at: eventTime,
    meta: metadata,
    scan_result: strict({
      flagged: boolean,
      categories: boundedRecord(booleanOrFinite),
      scores: boundedRecord(finite),
      threat_level: threatLevel,
    }),
    user_id: short,
    session_id: short,
    user_ip: short,
    mcp_server: short,
    call_type: short,
    response_status: short,
    id: short,
    detectors_triggered: shortList,
  } satisfies Record<keyof IngestEvent, Check>),
);
