import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ContentMode, Decision, EventKind, EventType, IngestEvent, Limits, ThreatLevel, type JsonValue } from '../../../daemon/protocol/entry.ts';
import { ingestEventFastCheck } from '../../../daemon/protocol/ingestEventFastCheck.ts';
import { EVENT_BOUNDS } from '../../../daemon/protocol/jsonBounds.ts';
import { HOSTILE_STRINGS } from '../../support/hostileCorpus.ts';
import { seededRandom } from '../../support/seededRandom.ts';

/**
 * The fast check must never accept what zod rejects (or accept it differently), and must accept every
 * JSON event zod accepts, or it is no fast path. Checked on a corpus of every field of the event and of its
 * nested objects × many values: boundaries of each bound, wrong types, hostile strings and keys, plus
 * realistic and random events and values no JSON text makes.
 */

const random = seededRandom(20261202);
const int = (n: number): number => Math.floor(random() * n);
const pick = <T>(items: readonly T[]): T => items[int(items.length)] as T;

const hex64 = 'a1'.repeat(32);
const times = [
  '2026-01-09T23:45:00.000Z',
  '2026-01-09T23:45:00Z',
  '2026-01-09T23:45:00',
  '2026-01-09T23:45:00.123456',
  '2026-01-09T23:45',
  '2026-01-09T23:45:00+02:00',
  '2026-01-09T23:45:00-05:30',
  '2026-01-09T23:45:00+0200',
  '2026-01-09T23:45:00z',
  '2026-01-09 23:45:00Z',
  '2026-02-29T00:00:00Z',
  '2028-02-29T00:00:00Z',
  '2026-02-30T00:00:00Z',
  '2026-13-01T00:00:00Z',
  '2026-01-09T24:00:00Z',
  '2026-01-09',
  '',
];
const strings = [
  '',
  'a',
  ...[Limits.shortString, Limits.text, Limits.metadataBytes].flatMap((n) => [n - 1, n, n + 1].map((length) => 'x'.repeat(length))),
  hex64,
  hex64.toUpperCase(),
  hex64.slice(1),
  `${hex64}0`,
  ...HOSTILE_STRINGS,
  ...times,
  ...EventKind.options,
  ...Decision.options,
  ...EventType.options,
  ...ThreatLevel.options,
  ...ContentMode.options,
  'audit.decrypt',
  '__proto__',
];
const numbers = [0, -0, 1, -1, 1.5, -1e-7, 12, 2 ** 31, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 1, 1e21, NaN, Infinity, -Infinity];
const records: unknown[] = [
  {},
  { a: 1 },
  { prompt_attack: true },
  { threat: 0.85, x: -2 },
  { a: 'text' },
  { a: null },
  { a: [1, 'b', { c: false }] },
  { ['k'.repeat(Limits.shortString)]: 1 },
  { ['k'.repeat(Limits.shortString + 1)]: 1 },
  { constructor: 1, toString: 'x', hasOwnProperty: true, prototype: {} },
  JSON.parse('{"__proto__":{"polluted":true}}'),
  JSON.parse('{"a":1,"__proto__":1}'),
  Object.fromEntries(Array.from({ length: Limits.mapKeys }, (_, i) => [`k${i}`, i])),
  Object.fromEntries(Array.from({ length: Limits.mapKeys + 1 }, (_, i) => [`k${i}`, i])),
  { d: nested(EVENT_BOUNDS.maxDepth - 2) },
  sized(Limits.metadataBytes),
  sized(Limits.metadataBytes + 1),
  { s: 'x'.repeat(Limits.text) },
  { s: 'x'.repeat(Limits.text + 1) },
  { l: Array.from({ length: Limits.listItems }, () => 1) },
  { l: Array.from({ length: Limits.listItems + 1 }, () => 1) },
];
const values: unknown[] = [
  ...strings,
  ...numbers,
  true,
  false,
  null,
  [],
  ['a'],
  [1],
  ['x'.repeat(Limits.shortString + 1)],
  Array.from({ length: Limits.listItems }, () => 'a'),
  Array.from({ length: Limits.listItems + 1 }, () => 'a'),
  ...records,
  { name: 'lakera', flagged: true },
  { code: 'timeout', message: 'm' },
  { code: 'timeout', message: 'm', status: 504 },
  { code: 'timeout' },
  { user_id: 'u' },
  { server: 's', tool: 't' },
  { name: 'a.txt', size: 3, sha256: hex64 },
  { type: 'chat', source: 'chat' },
];

/** Objects in which every member is replaced by every value, and the objects themselves at each field. */
const nestedShapes: Record<string, Record<string, unknown>> = {
  scanner: { name: 'lakera', request_uuid: 'r', flagged: true, categories: { a: true }, scores: { a: 0.5 }, detectors_triggered: ['d'], detected_patterns: ['p'], latency_ms: 3, error: { code: 'c', message: 'm', status: 500 } },
  actor: { user_id: 'u', session_id: 's', workspace: 'w', ip: '127.0.0.1', client: 'c' },
  mcp: { server: 's', call_type: 'c', tool: 't', status: 'ok' },
  file: { name: 'n', type: 't', size: 1, sha256: hex64 },
  context: { type: 't', source: 's' },
  scan_result: { flagged: false, categories: { a: 1 }, scores: { a: 2 }, threat_level: 'low' },
};

/** A chat event as the extension sends it. */
function chatEvent(i: number): Record<string, unknown> {
  return {
    kind: 'chat.input',
    ts: '2026-12-02T01:00:00.000Z',
    input: `prompt number ${i}`,
    provider: 'openai',
    model: 'gpt-4o',
    actor: { user_id: `u${i % 5}`, session_id: `s${i}` },
    scanner: { name: 'lakera', flagged: i % 10 === 0, categories: { prompt_attack: i % 10 === 0 } },
    latency_ms: 12,
    idempotency_key: `fast-${i}`,
  };
}

/** A value of `depth` levels of objects and arrays. */
function nested(depth: number): JsonValue {
  let value: JsonValue = 1;
  for (let i = 0; i < depth; i++) value = i % 2 === 0 ? [value] : { k: value };
  return value;
}

/** Metadata that serializes to exactly `bytes` characters. */
function sized(bytes: number): Record<string, string> {
  const record: Record<string, string> = {};
  let i = 0;
  while (JSON.stringify(record).length + 4096 < bytes) record[`k${i++}`] = 'x'.repeat(4000);
  record.last = '';
  record.last = 'x'.repeat(bytes - JSON.stringify(record).length);
  assert.equal(JSON.stringify(record).length, bytes);
  return record;
}

function corpus(): unknown[] {
  const base = { kind: 'chat.input' };
  const out: unknown[] = [base, ...values, ...Array.from({ length: 20 }, (_, i) => chatEvent(i))];
  for (const key of Object.keys(IngestEvent.shape)) for (const value of values) out.push({ ...base, [key]: value });
  for (const [field, shape] of Object.entries(nestedShapes)) {
    out.push({ ...base, [field]: shape });
    for (const key of Object.keys(shape)) for (const value of values) out.push({ ...base, [field]: { ...shape, [key]: value } });
  }
  for (const value of values) out.push({ ...base, scanner: { error: { code: 'c', message: 'm', status: value } } });
  for (const value of values) out.push({ ...base, metadata: { a: { b: [value] } } }, { ...base, metadata: { value } });
  for (let i = 0; i < 2000; i++) out.push(randomEvent());
  // Values no JSON text makes: the fast check leaves them to zod, which decides.
  out.push(
    { ...base, reason: undefined },
    { ...base, actor: { user_id: undefined } },
    { ...base, metadata: { a: undefined } },
    { ...base, metadata: { d: new Date(0) } },
    { ...base, metadata: Object.create(null) as object },
    { ...base, metadata: { [Symbol('s')]: 1 } },
    { ...base, alerts: new Array(2) },
    Object.assign(Object.create(null) as object, base),
    Object.assign(Object.create({ inherited: 1 }) as object, base),
    new Date(0),
    undefined,
    () => base,
    { ...base, metadata: nested(100) },
  );
  return out;
}

/** A random event: mostly valid fields, now and then a wrong one. */
function randomEvent(): Record<string, unknown> {
  const event: Record<string, unknown> = { kind: random() < 0.95 ? pick(EventKind.options) : pick(values) };
  const keys = Object.keys(IngestEvent.shape);
  for (let n = int(6); n > 0; n--) {
    const key = pick(keys);
    const nestedShape = nestedShapes[key];
    if (nestedShape !== undefined && random() < 0.7) event[key] = { ...nestedShape };
    else if (key === 'metadata' || key === 'meta') event[key] = JSON.parse(JSON.stringify({ m: nested(int(5)), s: pick(strings).slice(0, 100) })) as JsonValue;
    else event[key] = pick(values);
  }
  return event;
}

/** Whether a value is what JSON.parse makes (no __proto__ key, within the daemon's nesting bound). */
function jsonPlain(value: unknown): boolean {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    return false;
  }
  if (text === undefined || text.includes('"__proto__"')) return false;
  try {
    assert.deepStrictEqual(JSON.parse(text), value);
  } catch {
    return false;
  }
  let depth = 0;
  let deepest = 0;
  for (const c of text) {
    if (c === '{' || c === '[') deepest = Math.max(deepest, ++depth);
    if (c === '}' || c === ']') depth--;
  }
  return deepest <= EVENT_BOUNDS.maxDepth;
}

describe('ingestEventFastCheck agrees with the IngestEvent zod schema', () => {
  const cases = corpus();

  test('never accepts what zod rejects, and what it accepts zod returns unchanged', () => {
    let accepted = 0;
    for (const value of cases) {
      if (!ingestEventFastCheck(value)) continue;
      accepted++;
      const parsed = IngestEvent.safeParse(value);
      assert.ok(parsed.success, `the fast check accepted what zod rejects: ${JSON.stringify(value)?.slice(0, 300)}`);
      assert.deepStrictEqual(parsed.data, value);
    }
    assert.ok(accepted > 1000, `only ${accepted} cases accepted: the corpus does not exercise the fast path`);
  });

  test('accepts every JSON value that zod accepts', () => {
    let rejected = 0;
    let deferred = 0;
    for (const value of cases) {
      const parsed = IngestEvent.safeParse(value);
      if (!parsed.success) {
        rejected++;
        continue;
      }
      if (!jsonPlain(value)) {
        deferred++;
        continue;
      }
      assert.ok(ingestEventFastCheck(value), `the fast check left a valid event to zod: ${JSON.stringify(value).slice(0, 300)}`);
    }
    assert.ok(rejected > 1000, `only ${rejected} cases rejected by zod: the corpus has too few bad values`);
    assert.ok(deferred > 5, `only ${deferred} cases outside JSON`);
  });

  test('leaves values that JSON does not make, and __proto__ keys, to zod', () => {
    const base = { kind: 'chat.input' };
    for (const value of [
      { ...base, reason: undefined },
      { ...base, metadata: { d: new Date(0) } },
      { ...base, metadata: { [Symbol('s')]: 1 } },
      JSON.parse('{"kind":"chat.input","metadata":{"__proto__":{"polluted":true}}}') as unknown,
      Object.assign(Object.create(null) as object, base),
    ]) {
      assert.equal(ingestEventFastCheck(value), false);
    }
  });
});
