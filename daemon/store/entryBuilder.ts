import {
  Content,
  Entry,
  ENTRY_VERSION,
  IngestEvent,
  normalizeDecision,
  normalizeEvent,
  type ContentMode,
  type EntryKind,
  type JsonValue,
  type NormalizedEvent,
} from '../protocol/entry.ts';
import { ErrorCodes, type WireError } from '../protocol/errors.ts';
import { ingestEventFastCheck } from '../protocol/ingestEventFastCheck.ts';
import type { KeyMaterial } from '../keys/keyMaterial.ts';
import { encryptField, hmacHex } from '../keys/contentCipher.ts';
import { canonicalJson, jsonString } from './canonicalJson.ts';
import { canonicalShaped, shapeOf } from './canonicalShape.ts';
import { membersAroundHash } from './entryHash.ts';
import type { LineBatch } from './lineBatch.ts';

/** How far ahead of the daemon's clock an event's `ts` may be (clock skew between producers). */
export const MAX_FUTURE_SKEW_MS = 5 * 60 * 1000;

/** Validates one event as sent; returns the normalized event or the typed error for it. */
export function parseEvent(raw: unknown, nowMs: number): NormalizedEvent | WireError {
  // A top-level null means "not set" (rotalabs writes `block_reason: None`); nested nulls stay as sent.
  const withoutNulls = typeof raw === 'object' && raw !== null && !Array.isArray(raw) && hasNullMember(raw) ? Object.fromEntries(Object.entries(raw).filter(([, value]) => value !== null)) : raw;
  let valid: IngestEvent;
  // The fast check accepts only what zod accepts, as it is; anything else gets zod's verdict and message.
  if (ingestEventFastCheck(withoutNulls)) {
    valid = withoutNulls;
  } else {
    const parsed = IngestEvent.safeParse(withoutNulls);
    if (!parsed.success) {
      const issues = parsed.error.issues.slice(0, 10).map((issue) => ({
        path: issue.path.map(String).join('.'),
        message: issue.message,
      }));
      const first = issues[0];
      return {
        code: ErrorCodes.InvalidParams,
        message: first === undefined ? 'invalid event' : `invalid event: ${first.path || '(event)'}: ${first.message}`,
        data: { issues },
      };
    }
    valid = parsed.data;
  }
  const event = normalizeEvent(valid);
  if (event.ts !== undefined) {
    const ts = Date.parse(event.ts);
    if (ts > nowMs + MAX_FUTURE_SKEW_MS) {
      return {
        code: ErrorCodes.FutureTimestamp,
        message: `ts ${event.ts} is more than ${MAX_FUTURE_SKEW_MS / 60000} minutes ahead of the daemon's clock`,
        data: { ts: event.ts, max_skew_ms: MAX_FUTURE_SKEW_MS },
      };
    }
  }
  return event;
}

/** Without the array `Object.values` would allocate per event. */
function hasNullMember(record: object): boolean {
  for (const key in record) if ((record as Record<string, unknown>)[key] === null) return true;
  return false;
}

export function isWireError(value: NormalizedEvent | WireError): value is WireError {
  return typeof (value as WireError).code === 'string' && typeof (value as WireError).message === 'string' && !('kind' in value);
}

/** Event fields that do not go into the entry as they are: raw content and what content is built from. */
const NOT_COPIED = new Set(['input', 'output', 'content_mode', 'file', 'message_length', 'ts']);

/** What the store appends: a producer's event, or an `audit.*` record the daemon writes about itself. */
export type StorableEvent = Omit<NormalizedEvent, 'kind'> & { kind: EntryKind; audit?: Record<string, JsonValue> };

export interface Stamp {
  seq: number;
  id: string;
  recordedAt: string;
  prev: string;
  defaultMode: ContentMode;
  keys: KeyMaterial;
  /** `input_enc` / `output_enc` already made with `encryptField` under `keys.encryption` and this entry's AAD (the encryption worker). */
  sealedInput?: string | undefined;
  sealedOutput?: string | undefined;
}

/** The content mode an event is stored in: its own `content_mode`, else the store's setting. */
export function contentModeOf(event: StorableEvent, defaultMode: ContentMode): ContentMode {
  return event.content_mode ?? defaultMode;
}

/** Where each member of an entry comes from: the event as it is, or the daemon (one source per stamped member). */
const FROM_EVENT = 0;
const VERSION = 1;
const SEQ = 2;
const ID = 3;
const TS = 4;
const RECORDED_AT = 5;
const DECISION = 6;
const CONTENT = 7;
const PREV = 8;
const HASH = 9;
const STAMPED: Readonly<Record<string, number>> = { v: VERSION, seq: SEQ, id: ID, ts: TS, recorded_at: RECORDED_AT, decision: DECISION, content: CONTENT, prev: PREV, hash: HASH };
/** The entry's members in canonical order, from its schema, with the shapes of those that are objects. */
const ENTRY_SHAPE = shapeOf(Entry);
const ENTRY_SOURCES = ENTRY_SHAPE.keys.map((key) => STAMPED[key] ?? FROM_EVENT);
/**
 * Event members by name: the index of the entry member they become, or -1 for those the entry does not take
 * as they are (NOT_COPIED, and the daemon's stamps, which the general way overwrites or, for `hash`, skips).
 */
const EVENT_MEMBERS = new Map<string, number>([
  ...ENTRY_SHAPE.keys.map((key, i): [string, number] => [key, ENTRY_SOURCES[i] === FROM_EVENT ? i : -1]),
  ...[...NOT_COPIED].map((key): [string, number] => [key, -1]),
]);
/** The event's values by entry member (reused: one event at a time, cleared before each). */
const slots: unknown[] = ENTRY_SHAPE.keys.map(() => undefined);
/**
 * Whether `slots` may hold values of an earlier event: each slot is cleared as it is read, so only a build that
 * did not reach its end (an event built the general way, or a throw) leaves some behind, and the next clears all.
 */
let slotsDirty = false;
const CONTENT_SHAPE = shapeOf(Content);
const VERSION_JSON = JSON.stringify(ENTRY_VERSION);
/**
 * The members of `content` in the order {@link buildContent} sets them and {@link contentJson} writes them, by
 * their index in the canonical order; checked against the schema's sorted keys when this module loads.
 */
const CONTENT_ORDER = ['file', 'input_enc', 'input_hmac', 'input_length', 'key_id', 'message_length', 'mode', 'output_enc', 'output_hmac', 'output_length'] as const;
if (CONTENT_ORDER.join() !== CONTENT_SHAPE.keys.join()) throw new Error('content members changed: update CONTENT_ORDER, buildContent and contentJson');
const [C_FILE, C_INPUT_ENC, C_INPUT_HMAC, C_INPUT_LENGTH, C_KEY_ID, C_MESSAGE_LENGTH, C_MODE, C_OUTPUT_ENC, C_OUTPUT_HMAC, C_OUTPUT_LENGTH] = CONTENT_ORDER.map((_, i) => i) as [number, number, number, number, number, number, number, number, number, number];
const FILE_SHAPE = CONTENT_SHAPE.nested[C_FILE] ?? null;

/**
 * Turns a normalized event into an entry: stamps it, converts `input`/`output` to the content mode (the
 * raw text goes no further than this function and, for large encrypted batches, the encryption worker thread
 * in this process), computes its hash and writes its stored line into `lines`.
 * The entry's members are serialized in canonical order as they are set (see {@link CanonicalShape}); an
 * event with a member the entry does not know is built the general way, by sorting keys, which gives the same
 * bytes for every event.
 */
export function buildEntry(event: StorableEvent, stamp: Stamp, lines: LineBatch): Entry {
  const { input, output, file, message_length, ts } = event;
  const content = buildContent(input, output, contentModeOf(event, stamp.defaultMode), file, message_length, stamp);
  const decision = normalizeDecision(event as NormalizedEvent);
  // The event's members go to their slots by name (one pass over its own few keys, instead of looking up
  // every member the entry may have); the general way copies what `for…in` lists, so this does too.
  if (slotsDirty) slots.fill(undefined);
  slotsDirty = true;
  const source = event as Record<string, unknown>;
  for (const key in source) {
    const value = source[key];
    if (value === undefined) continue;
    const index = EVENT_MEMBERS.get(key);
    if (index === undefined) return buildEntryBySorting(event, stamp, content, decision, lines);
    if (index >= 0) slots[index] = value;
  }
  const entry = {} as Record<string, unknown>;
  const { keys, first, later, nested } = ENTRY_SHAPE;
  let before = '';
  let after = '';
  let sealed = false;
  for (let i = 0; i < keys.length; i++) {
    let json: string;
    switch (ENTRY_SOURCES[i]) {
      case FROM_EVENT: {
        const value = slots[i];
        slots[i] = undefined;
        if (value === undefined) continue;
        entry[keys[i] as string] = value;
        const shape = nested[i];
        json = shape !== null && shape !== undefined && typeof value === 'object' && value !== null && !Array.isArray(value) ? canonicalShaped(value as Record<string, unknown>, shape) : canonicalJson(value);
        break;
      }
      case VERSION:
        entry.v = ENTRY_VERSION;
        json = VERSION_JSON;
        break;
      case SEQ:
        entry.seq = stamp.seq;
        json = integerJson(stamp.seq);
        break;
      case ID:
        entry.id = stamp.id;
        json = jsonString(stamp.id);
        break;
      case TS:
        entry.ts = ts ?? stamp.recordedAt;
        json = jsonString(entry.ts as string);
        break;
      case RECORDED_AT:
        entry.recorded_at = stamp.recordedAt;
        json = jsonString(stamp.recordedAt);
        break;
      case DECISION:
        entry.decision = decision;
        json = jsonString(decision);
        break;
      case CONTENT:
        entry.content = content;
        json = contentJson(content);
        break;
      case PREV:
        entry.prev = stamp.prev;
        json = jsonString(stamp.prev);
        break;
      default:
        // HASH: the members after it go into the part after the hash.
        sealed = true;
        continue;
    }
    if (sealed) after += (after === '' ? first[i] : later[i]) + json;
    else before += (before === '' ? first[i] : later[i]) + json;
  }
  slotsDirty = false;
  entry.hash = lines.appendSealed(before, after);
  return entry as Entry;
}

/** `content` of an entry, its members set in canonical order. */
function buildContent(input: string | undefined, output: string | undefined, mode: ContentMode, file: Content['file'], messageLength: number | undefined, stamp: Stamp): Content {
  const content = {} as Content;
  if (file !== undefined) content.file = file;
  const hashed = mode === 'hash' && (input !== undefined || output !== undefined);
  const encrypted = mode === 'encrypted' && (input !== undefined || output !== undefined);
  if (encrypted && input !== undefined) content.input_enc = stamp.sealedInput ?? encryptField(stamp.keys.encryption.key, input, `${stamp.id}:input`);
  if (hashed && input !== undefined) content.input_hmac = hmacHex(stamp.keys.hmac.key, input);
  if (input !== undefined) content.input_length = input.length;
  if (hashed) content.key_id = stamp.keys.hmac.id;
  if (encrypted) content.key_id = stamp.keys.encryption.id;
  if (messageLength !== undefined) content.message_length = messageLength;
  content.mode = mode;
  if (encrypted && output !== undefined) content.output_enc = stamp.sealedOutput ?? encryptField(stamp.keys.encryption.key, output, `${stamp.id}:output`);
  if (hashed && output !== undefined) content.output_hmac = hmacHex(stamp.keys.hmac.key, output);
  if (output !== undefined) content.output_length = output.length;
  return content;
}

/**
 * Canonical JSON of a `content` made by {@link buildContent}, without looking up all ten members the schema
 * allows: it has only those members, set in canonical order (CONTENT_ORDER), each of the type written here.
 * Equal to `canonicalShaped(content, CONTENT_SHAPE)` (test/daemon/store/entryBuilder.test.ts compares the
 * lines with the general serializer in all three modes).
 */
function contentJson(content: Content): string {
  const { file, input_enc, input_hmac, input_length, key_id, message_length, mode, output_enc, output_hmac, output_length } = content;
  let out = '';
  if (file !== undefined) out = contentMember(out, C_FILE, FILE_SHAPE === null ? canonicalJson(file) : canonicalShaped(file, FILE_SHAPE));
  if (input_enc !== undefined) out = contentMember(out, C_INPUT_ENC, jsonString(input_enc));
  // The HMACs are hex digits made by buildContent: nothing to escape, no scan.
  if (input_hmac !== undefined) out = contentMember(out, C_INPUT_HMAC, '"' + input_hmac + '"');
  if (input_length !== undefined) out = contentMember(out, C_INPUT_LENGTH, integerJson(input_length));
  if (key_id !== undefined) out = contentMember(out, C_KEY_ID, jsonString(key_id));
  if (message_length !== undefined) out = contentMember(out, C_MESSAGE_LENGTH, integerJson(message_length));
  out = contentMember(out, C_MODE, jsonString(mode));
  if (output_enc !== undefined) out = contentMember(out, C_OUTPUT_ENC, jsonString(output_enc));
  if (output_hmac !== undefined) out = contentMember(out, C_OUTPUT_HMAC, '"' + output_hmac + '"');
  if (output_length !== undefined) out = contentMember(out, C_OUTPUT_LENGTH, integerJson(output_length));
  return '{' + out + '}';
}

/** `out` with the content member at `index` (its name, and a comma unless it is the first) and its JSON appended. */
function contentMember(out: string, index: number, json: string): string {
  return out + ((out === '' ? CONTENT_SHAPE.first[index] : CONTENT_SHAPE.later[index]) as string) + json;
}

/** An integer as JSON.stringify writes it (String does the same for safe integers, without the serializer). */
function integerJson(value: number): string {
  return Number.isSafeInteger(value) ? String(value) : JSON.stringify(value);
}

/** The general way: every member of the event copied, the stamps set over them, keys sorted when serialized. */
function buildEntryBySorting(event: StorableEvent, stamp: Stamp, content: Content, decision: Entry['decision'], lines: LineBatch): Entry {
  const entry = {} as Record<string, unknown>;
  for (const key in event) {
    if (NOT_COPIED.has(key)) continue;
    const value = (event as Record<string, unknown>)[key];
    if (value !== undefined) entry[key] = value;
  }
  entry.v = ENTRY_VERSION;
  entry.seq = stamp.seq;
  entry.id = stamp.id;
  entry.ts = event.ts ?? stamp.recordedAt;
  entry.recorded_at = stamp.recordedAt;
  entry.decision = decision;
  entry.content = content;
  entry.prev = stamp.prev;
  const { before, after } = membersAroundHash(entry);
  entry.hash = lines.appendSealed(before, after);
  return entry as Entry;
}
