import {
  ENTRY_VERSION,
  IngestEvent,
  normalizeDecision,
  normalizeEvent,
  type Content,
  type ContentMode,
  type Entry,
  type EntryKind,
  type JsonValue,
  type NormalizedEvent,
} from '../protocol/entry.ts';
import { ErrorCodes, type WireError } from '../protocol/errors.ts';
import { ingestEventFastCheck } from '../protocol/ingestEventFastCheck.ts';
import type { KeyMaterial } from '../keys/keyMaterial.ts';
import { encryptField, hmacHex } from '../keys/contentCipher.ts';
import { sealEntry } from './entryHash.ts';

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

/**
 * Turns a normalized event into an entry: stamps it, converts `input`/`output` to the content mode (the
 * raw text goes no further than this function and, for large encrypted batches, the encryption worker thread
 * in this process), computes its hash and serializes its stored line.
 */
export function buildEntry(event: StorableEvent, stamp: Stamp): { entry: Entry; line: string } {
  const { input, output, file, message_length, ts } = event;
  const mode = contentModeOf(event, stamp.defaultMode);
  const content: Content = { mode };
  if (input !== undefined) content.input_length = input.length;
  if (output !== undefined) content.output_length = output.length;
  if (message_length !== undefined) content.message_length = message_length;
  if (file !== undefined) content.file = file;
  if (mode === 'hash' && (input !== undefined || output !== undefined)) {
    content.key_id = stamp.keys.hmac.id;
    if (input !== undefined) content.input_hmac = hmacHex(stamp.keys.hmac.key, input);
    if (output !== undefined) content.output_hmac = hmacHex(stamp.keys.hmac.key, output);
  } else if (mode === 'encrypted' && (input !== undefined || output !== undefined)) {
    content.key_id = stamp.keys.encryption.id;
    if (input !== undefined) content.input_enc = stamp.sealedInput ?? encryptField(stamp.keys.encryption.key, input, `${stamp.id}:input`);
    if (output !== undefined) content.output_enc = stamp.sealedOutput ?? encryptField(stamp.keys.encryption.key, output, `${stamp.id}:output`);
  }
  // A plain copy loop rather than rest/spread: this runs for every event, and V8's generic
  // CopyDataProperties path for `{ ...rest }` with excluded keys is several times slower.
  const entry = {} as Record<string, unknown>;
  for (const key in event) {
    if (NOT_COPIED.has(key)) continue;
    const value = (event as Record<string, unknown>)[key];
    if (value !== undefined) entry[key] = value;
  }
  entry.v = ENTRY_VERSION;
  entry.seq = stamp.seq;
  entry.id = stamp.id;
  entry.ts = ts ?? stamp.recordedAt;
  entry.recorded_at = stamp.recordedAt;
  entry.decision = normalizeDecision(event as NormalizedEvent);
  entry.content = content;
  entry.prev = stamp.prev;
  return sealEntry(entry as Omit<Entry, 'hash'>);
}
