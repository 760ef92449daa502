import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { decryptField, hmacHex } from '../../../daemon/keys/contentCipher.ts';
import type { KeyMaterial } from '../../../daemon/keys/keyMaterial.ts';
import { normalizeDecision, type Entry, type NormalizedEvent } from '../../../daemon/protocol/entry.ts';
import { canonicalJson } from '../../../daemon/store/canonicalJson.ts';
import { buildEntry, isWireError, parseEvent, type StorableEvent } from '../../../daemon/store/entryBuilder.ts';
import { entryHash } from '../../../daemon/store/entryHash.ts';
import { sealEntry } from '../../support/sealEntry.ts';
import { LineBatch } from '../../../daemon/store/lineBatch.ts';

const signing = generateKeyPairSync('ed25519');
const keys: KeyMaterial = {
  source: 'master-key',
  hmac: { id: 'h1', key: randomBytes(32) },
  encryption: { id: 'e1', key: randomBytes(32) },
  encryptionKeys: new Map(),
  hmacKeys: new Map(),
  signing: { id: 's1', privateKey: signing.privateKey, publicKey: signing.publicKey },
  signingPublicKeys: new Map(),
};

/** A small deterministic generator (mulberry32), so that a failure can be replayed by its seed. */
function generator(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const HOSTILE = ['', 'a', 'é', '"', '\\', '\n', '\u0000', '\u001f', '\u007f', '\u2028', '\u2029', '/', '</script>', '😀', '\ud800', '\udfff', 'x\ud83dy', '\ufeff', 'Z', '𝒜', 'hash', '__proto__', '10', '9', '-1', ' '];
const NUMBERS = [0, -0, 1, -1, 0.1, 0.72, 150, 1e21, 1e-7, 5e-324, 1.7976931348623157e308, 2 ** 53, -(2 ** 53) - 2, 123.456];
const KEYS = ['a', 'B', 'b', 'z', 'A', '10', '9', '1', 'é', 'É', '😀', '\ud800', 'hash', '', ' ', '\u0000', 'ä', 'aa', 'a\u0000'];

function pick<T>(next: () => number, items: readonly T[]): T {
  return items[Math.floor(next() * items.length)] as T;
}

function text(next: () => number): string {
  let out = '';
  const parts = Math.floor(next() * 4);
  for (let i = 0; i < parts; i++) out += next() < 0.5 ? pick(next, HOSTILE) : String.fromCharCode(Math.floor(next() * 0x10000));
  return out;
}

function json(next: () => number, depth: number): unknown {
  const r = next();
  if (depth > 3 || r < 0.3) return pick(next, NUMBERS);
  if (r < 0.5) return text(next);
  if (r < 0.55) return null;
  if (r < 0.6) return next() < 0.5;
  if (r < 0.8) return Array.from({ length: Math.floor(next() * 4) }, () => json(next, depth + 1));
  return map(next, () => json(next, depth + 1));
}

function map(next: () => number, value: () => unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const count = Math.floor(next() * 5);
  for (let i = 0; i < count; i++) out[next() < 0.5 ? pick(next, KEYS) : text(next)] = value();
  return out;
}

/** Sets some of `fields` on a new object, in a random order (the order a producer sent them in). */
function some(next: () => number, fields: Record<string, () => unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const names = Object.keys(fields).sort(() => next() - 0.5);
  for (const name of names) if (next() < 0.5) out[name] = (fields[name] as () => unknown)();
  return out;
}

function randomEvent(next: () => number): Record<string, unknown> {
  const s = (): string => text(next);
  const n = (): number => pick(next, NUMBERS);
  const b = (): boolean => next() < 0.5;
  const event = some(next, {
    ts: () => pick(next, ['2026-11-22T08:00:00Z', '2026-11-22T08:00:00.123456+02:00', '2026-11-22T08:00:00']),
    event_type: () => pick(next, ['scan', 'blocked', 'allowed']),
    decision: () => pick(next, ['allowed', 'blocked', 'warned', 'error']),
    allowed: b,
    safety_passed: b,
    reason: s,
    block_reason: s,
    risk_score: n,
    threat_level: () => pick(next, ['none', 'high']),
    context: () => some(next, { type: s, source: s }),
    scanner: () =>
      some(next, {
        name: s,
        request_uuid: s,
        flagged: b,
        categories: () => map(next, () => (next() < 0.5 ? b() : n())),
        scores: () => map(next, n),
        detectors_triggered: () => [s(), s()],
        detected_patterns: () => [s()],
        latency_ms: n,
        error: () => some(next, { code: s, message: s, status: n }),
      }),
    actor: () => some(next, { user_id: s, session_id: s, workspace: s, ip: s, client: s }),
    provider: s,
    model: s,
    operation: s,
    conversation_id: s,
    project_id: s,
    customer_id: s,
    api_key_id: s,
    source_id: s,
    mcp: () => some(next, { server: s, call_type: s, tool: s, status: s }),
    latency_ms: n,
    input_tokens: n,
    output_tokens: n,
    alerts: () => [s(), s()],
    metadata: () => map(next, () => json(next, 0)),
    idempotency_key: s,
    input: s,
    output: s,
    content_mode: () => pick(next, ['hash', 'encrypted', 'none']),
    file: () => some(next, { name: s, type: s, size: n, sha256: () => 'a'.repeat(64) }),
    message_length: n,
    audit: () => map(next, () => json(next, 0)),
  });
  event.kind = pick(next, ['chat.input', 'mcp.call', 'audit.export']);
  return event;
}

/** The entry as buildEntry built it before this change: the event copied, stamped, keys sorted by sealEntry. */
function expectedLine(event: StorableEvent, stamp: { seq: number; id: string; recordedAt: string; prev: string }, content: unknown): string {
  const entry: Record<string, unknown> = {};
  for (const key in event) {
    if (['input', 'output', 'content_mode', 'file', 'message_length', 'ts'].includes(key)) continue;
    const value = (event as Record<string, unknown>)[key];
    if (value !== undefined) entry[key] = value;
  }
  Object.assign(entry, { v: 1, seq: stamp.seq, id: stamp.id, ts: event.ts ?? stamp.recordedAt, recorded_at: stamp.recordedAt });
  Object.assign(entry, { decision: normalizeDecision(event as NormalizedEvent), content, prev: stamp.prev });
  return sealEntry(entry as Omit<Entry, 'hash'>).line;
}

/** The content as buildEntry built it before (hash and none modes are deterministic). */
function expectedContent(event: StorableEvent, mode: string): Record<string, unknown> {
  const content: Record<string, unknown> = { mode: event.content_mode ?? mode };
  if (event.input !== undefined) content.input_length = event.input.length;
  if (event.output !== undefined) content.output_length = event.output.length;
  if (event.message_length !== undefined) content.message_length = event.message_length;
  if (event.file !== undefined) content.file = event.file;
  if (content.mode !== 'none' && (event.input !== undefined || event.output !== undefined)) {
    content.key_id = content.mode === 'hash' ? keys.hmac.id : keys.encryption.id;
    if (content.mode === 'hash' && event.input !== undefined) content.input_hmac = hmacHex(keys.hmac.key, event.input);
    if (content.mode === 'hash' && event.output !== undefined) content.output_hmac = hmacHex(keys.hmac.key, event.output);
  }
  return content;
}

function lines(batch: LineBatch): string[] {
  const out: string[] = [];
  let at = 0;
  const bytes = batch.bytes();
  for (const length of batch.lineBytes) {
    out.push(bytes.subarray(at, at + length).toString('utf8'));
    at += length;
  }
  assert.equal(at, bytes.length);
  return out;
}

function check(events: readonly StorableEvent[], mode: 'hash' | 'encrypted' | 'none'): void {
  const batch = new LineBatch();
  const built: Entry[] = [];
  let prev = '0'.repeat(64);
  events.forEach((event, i) => {
    const entry = buildEntry(event, { seq: i + 1, id: `0192c5a4-0000-7000-8000-${String(i).padStart(12, '0')}`, recordedAt: '2026-11-22T08:00:01.000Z', prev, defaultMode: mode, keys }, batch);
    built.push(entry);
    prev = entry.hash;
  });
  const stored = lines(batch);
  events.forEach((event, i) => {
    const entry = built[i] as Entry;
    const line = stored[i] as string;
    const context = `event ${i}: ${JSON.stringify(event)}`;
    // The line is the canonical JSON of its entry, and the entry's hash is over it without `hash`.
    assert.equal(line, canonicalJson(entry) + '\n', context);
    assert.equal(entry.hash, entryHash(entry), context);
    assert.equal(canonicalJson(JSON.parse(line)) + '\n', line, context);
    const effective = event.content_mode ?? mode;
    if (effective === 'encrypted') {
      if (event.input !== undefined) assert.equal(decryptField(keys.encryption.key, entry.content.input_enc ?? '', `${entry.id}:input`), Buffer.from(event.input).toString(), context);
      if (event.output !== undefined) assert.equal(decryptField(keys.encryption.key, entry.content.output_enc ?? '', `${entry.id}:output`), Buffer.from(event.output).toString(), context);
      const { input_enc, output_enc, ...rest } = entry.content;
      assert.deepEqual({ ...rest }, expectedContent(event, mode), context);
      assert.equal(input_enc === undefined, event.input === undefined, context);
      assert.equal(output_enc === undefined, event.output === undefined, context);
    } else {
      assert.deepEqual({ ...entry.content }, expectedContent(event, mode), context);
    }
    // The same bytes as the general way (every member copied, keys sorted).
    assert.equal(line, expectedLine(event, { seq: entry.seq, id: entry.id, recordedAt: entry.recorded_at, prev: entry.prev }, entry.content), context);
  });
}

test('buildEntry writes the same canonical line as sorting keys, over many random and hostile events', () => {
  for (const seed of [1, 2, 3, 4]) {
    const next = generator(seed);
    const events = Array.from({ length: 500 }, () => randomEvent(next) as unknown as StorableEvent);
    check(events, pick(next, ['hash', 'encrypted', 'none'] as const));
  }
});

test('buildEntry stores validated events as they come from parseEvent, in every content mode', () => {
  const next = generator(7);
  const events: StorableEvent[] = [];
  while (events.length < 300) {
    const parsed = parseEvent(randomEvent(next), Date.parse('2026-11-22T08:00:00Z'));
    if (!isWireError(parsed)) events.push(parsed);
  }
  for (const mode of ['hash', 'encrypted', 'none'] as const) check(events, mode);
});

test('members the entry does not know, stamped names, inherited members and odd shapes give the sorted bytes too', () => {
  const inherited = Object.create({ user_id: 'from the prototype' }) as Record<string, unknown>;
  inherited.session_id = 's';
  const inheritedTop = Object.create({ model: 'inherited', zzz: 1 }) as Record<string, unknown>;
  inheritedTop.kind = 'chat.input';
  const events = [
    { kind: 'chat.input', unknown_member: 'x', aaa: [1, 2] },
    { kind: 'chat.input', v: 7, seq: 9, id: 'mine', recorded_at: 'then', content: { mode: 'x' }, prev: 'p', hash: 'h' },
    { kind: 'chat.input', actor: { user_id: 'u', extra: 'e' }, scanner: { flagged: true, error: { code: 'c', message: 'm', more: 1 } } },
    { kind: 'chat.input', actor: inherited },
    inheritedTop,
    { kind: 'chat.input', actor: ['not', 'an', 'object'], scanner: 'text', context: null, mcp: { server: undefined, tool: 't' } },
    { kind: 'chat.input', metadata: { '10': 1, '9': 2, b: { '2': [], '1': {} } }, file: { size: 3, zz: 1 }, input: 'x' },
    { kind: 'chat.input', decision: undefined, model: undefined, ts: undefined },
    ...['a"b', 'a\\b', 'a\nb', 'a\u0000b', 'a\u001fb', 'a\u007fb', 'é', '\u2028', '😀', '\ud800', ' ~'].map((odd) => ({ kind: 'chat.input', ts: odd, decision: odd })),
  ] as unknown as StorableEvent[];
  check(events, 'hash');
});

test('a line batch seals halves that are empty, and grows past its first buffer', () => {
  const batch = new LineBatch();
  assert.equal(batch.appendSealed('', ''), entryHash({} as Entry));
  batch.appendSealed('"a":1', '');
  batch.appendSealed('', '"z":"é"');
  const big = '"a":"' + '€'.repeat(200_000) + '"';
  batch.appendSealed(big, '"z":2');
  const stored = lines(batch);
  assert.deepEqual(stored.slice(0, 3), [
    `{"hash":"${entryHash({} as Entry)}"}\n`,
    `{"a":1,"hash":"${entryHash({ a: 1 } as unknown as Entry)}"}\n`,
    `{"hash":"${entryHash({ z: 'é' } as unknown as Entry)}","z":"é"}\n`,
  ]);
  const parsed = JSON.parse(stored[3] as string) as Entry;
  assert.equal(parsed.hash, entryHash(parsed));
});
