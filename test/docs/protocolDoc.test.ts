import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import type { z } from 'zod';
import {
  Actor,
  Content,
  Context,
  Entry,
  FileInfo,
  GENESIS_HASH,
  IngestEvent,
  Limits,
  Mcp,
  normalizeDecision,
  normalizeEvent,
  ScanResult,
  Scanner,
} from '../../daemon/protocol/entry.ts';
import { ErrorCodes } from '../../daemon/protocol/errors.ts';
import {
  isMethodName,
  MAX_BATCH_EVENTS,
  MAX_FRAME_BYTES,
  MAX_PAGE,
  Methods,
  RequestFrame,
  type Discovery,
  type IngestAck,
  type IngestRejected,
  type MethodName,
  type NotificationName,
  type Notifications,
  type ResultOf,
  type VerifyProblem,
} from '../../daemon/protocol/messages.ts';
import { DEFAULT_SETTINGS } from '../../daemon/state/daemonState.ts';
import { canonicalJson } from '../../daemon/store/canonicalJson.ts';
import { checkpointSignatureValid, type Checkpoint } from '../../daemon/store/checkpoints.ts';
import { MAX_FUTURE_SKEW_MS } from '../../daemon/store/entryBuilder.ts';
import { entryHash } from '../../daemon/store/entryHash.ts';
import { SPARSE_STEP } from '../../daemon/store/segmentSummary.ts';
import { DEFAULT_SEGMENT_MAX_BYTES } from '../../daemon/store/segmentStore.ts';

/**
 * Keeps docs/protocol.md and docs/entry.md from drifting away from the code: every example block marked
 * `<!-- example: KIND [NAME] -->` is parsed with the protocol's own schemas, every method, notification,
 * error code and entry field must be documented, and the test vectors (hashes, chain, signature) are
 * recomputed with the daemon's code.
 */

const PROTOCOL_DOC = new URL('../../docs/protocol.md', import.meta.url);
const ENTRY_DOC = new URL('../../docs/entry.md', import.meta.url);

interface Example {
  kind: string;
  name: string | undefined;
  /** The fence's info string (`json`, `text`). */
  lang: string;
  body: string;
  /** 1-based line of the marker, for messages. */
  line: number;
}

const MARKER = /^<!-- example: ([a-z-]+)(?: ([\w.-]+))? -->$/;

/** Every marked block of a markdown file; fails if a marker is not followed by a fenced block. */
function extractExamples(markdown: string, file: string): Example[] {
  const lines = markdown.split('\n');
  const examples: Example[] = [];
  for (let i = 0; i < lines.length; i++) {
    const match = MARKER.exec(lines[i]?.trim() ?? '');
    if (match === null) continue;
    const [, kind = '', name] = match;
    let j = i + 1;
    while (j < lines.length && lines[j]?.trim() === '') j++;
    const fence = /^```(\w*)$/.exec(lines[j] ?? '');
    assert.ok(fence !== null, `${file}:${i + 1}: the example marker is not followed by a fenced block`);
    const body: string[] = [];
    let k = j + 1;
    for (; k < lines.length && lines[k] !== '```'; k++) body.push(lines[k] ?? '');
    assert.ok(k < lines.length, `${file}:${i + 1}: the example's fence is not closed`);
    examples.push({ kind, name, lang: fence[1] ?? '', body: body.join('\n'), line: i + 1 });
    i = k;
  }
  return examples;
}

/** Lines (1-based) of ```json fences that carry no example marker: JSON nobody checks. */
function unmarkedJsonFences(markdown: string): number[] {
  const lines = markdown.split('\n');
  const found: number[] = [];
  let inFence = false;
  let lastNonBlank = '';
  lines.forEach((line, index) => {
    if (inFence) {
      if (line === '```') inFence = false;
      return;
    }
    if (line.startsWith('```')) {
      inFence = true;
      if (line === '```json' && !MARKER.test(lastNonBlank)) found.push(index + 1);
      return;
    }
    if (line.trim() !== '') lastNonBlank = line.trim();
  });
  return found;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseJson(example: Example, file: string): unknown {
  assert.equal(example.lang, 'json', `${file}:${example.line}: a ${example.kind} example must be a json block`);
  try {
    return JSON.parse(example.body) as unknown;
  } catch (error: unknown) {
    assert.fail(`${file}:${example.line}: the example is not valid JSON: ${String(error)}`);
  }
}

function assertSchema<T extends z.ZodType>(schema: T, value: unknown, where: string): z.output<T> {
  const parsed = schema.safeParse(value);
  assert.ok(parsed.success, `${where}: ${parsed.error?.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  return parsed.data;
}

/**
 * For each key of T whether it is required or optional. The compiler checks that a literal of this type
 * names every key of T and no other, so the tables below break the build when a result type changes.
 */
type KeySpec<T> = { [K in keyof T]-?: Record<never, never> extends Pick<T, K> ? 'optional' : 'required' };
type AnyKeySpec = Readonly<Record<string, 'required' | 'optional'>>;

const KEY_STATUS_KEYS: KeySpec<ResultOf<'keys.status'>> = {
  source: 'required',
  hmac_key_id: 'required',
  encryption_key_id: 'required',
  encryption_key_ids: 'required',
  signing_key_id: 'required',
  signing_public_key: 'required',
  signing_public_keys: 'required',
};
const SETTINGS_KEYS: KeySpec<ResultOf<'settings.get'>> = { content_mode: 'required', retention_days: 'required' };

const NAMED_DESTINATION_KEYS: KeySpec<ResultOf<'destinations.add'>> = { name: 'required', config: 'required', location: 'required' };
const EXPORT_RUN_KEYS: KeySpec<ResultOf<'export.run'>> = {
  id: 'required',
  schedule: 'required',
  name: 'required',
  location: 'required',
  layout: 'required',
  status: 'required',
  started_at: 'required',
  finished_at: 'required',
  seq_from: 'required',
  seq_to: 'required',
  rows: 'required',
  bytes: 'required',
  objects: 'required',
  objects_total: 'required',
  manifests: 'required',
  error: 'required',
  audit_seq: 'required',
};
const SCHEDULE_KEYS: KeySpec<ResultOf<'schedules.add'>> = {
  name: 'required',
  destination: 'required',
  prefix: 'optional',
  layout: 'required',
  gzip: 'required',
  timing: 'required',
  time_zone: 'required',
  filter: 'optional',
  enabled: 'required',
  created_at: 'required',
  watermark_seq: 'required',
  last_manifest: 'required',
  next_run_at: 'required',
  pending: 'required',
  last_run: 'required',
};
const OK_KEYS = { ok: 'required' } as const;

const RESULT_KEYS: { [M in MethodName]: KeySpec<ResultOf<M>> } = {
  ingest: { acks: 'required' },
  query: { entries: 'required', next_cursor: 'required' },
  get: { entry: 'required' },
  'tail.subscribe': { subscription: 'required' },
  'tail.unsubscribe': { ok: 'required' },
  stats: { total: 'required', per_day: 'required', top_categories: 'required', risk_by_model: 'required', groups: 'optional' },
  verify: {
    ok: 'required',
    entries_checked: 'required',
    segments_checked: 'required',
    checkpoints_checked: 'required',
    first_seq: 'required',
    last_seq: 'required',
    last_hash: 'required',
    unsigned_tail: 'required',
    problem: 'required',
  },
  'retention.run': { dropped_segments: 'required', dropped_entries: 'required', anchor_seq: 'required' },
  'keys.status': KEY_STATUS_KEYS,
  'keys.rotate': KEY_STATUS_KEYS,
  decrypt: { seq: 'required', input: 'optional', output: 'optional', audit_seq: 'required' },
  'settings.get': SETTINGS_KEYS,
  'settings.set': SETTINGS_KEYS,
  health: {
    version: 'required',
    protocol: 'required',
    pid: 'required',
    uptime_s: 'required',
    entries: 'required',
    segments: 'required',
    first_seq: 'required',
    last_seq: 'required',
    last_hash: 'required',
    store_bytes: 'required',
    disk_full: 'required',
    queue_depth: 'required',
    key_source: 'required',
    settings: 'required',
    flow: 'required',
    read_only: 'optional',
  },
  'checkpoints.latest': { checkpoint: 'required', last_seq: 'required', last_hash: 'required' },
  'witness.report': { seq: 'required' },
  'entry.detail': { entry: 'required', checkpoint: 'required', reviews: 'required' },
  'review.add': { audit_seq: 'required' },
  'access.record': { audit_seq: 'required' },
  'destinations.add': NAMED_DESTINATION_KEYS,
  'destinations.list': { destinations: 'required' },
  'destinations.remove': OK_KEYS,
  'credentials.set': { ok: 'required', audit_seq: 'required' },
  'credentials.remove': { removed: 'required', audit_seq: 'required' },
  'destinations.test': { write: 'required', read: 'required', delete: 'required', key: 'required', detail: 'required', location: 'required' },
  'export.run': EXPORT_RUN_KEYS,
  'export.runs': { runs: 'required' },
  'export.cancel': OK_KEYS,
  'schedules.add': SCHEDULE_KEYS,
  'schedules.list': { schedules: 'required' },
  'schedules.edit': SCHEDULE_KEYS,
  'schedules.enable': SCHEDULE_KEYS,
  'schedules.disable': SCHEDULE_KEYS,
  'schedules.run': EXPORT_RUN_KEYS,
  'schedules.remove': OK_KEYS,
};

/** Every notification the daemon sends (the compiler checks the list against `Notifications`). */
const NOTIFICATION_KEYS: { [N in NotificationName]: KeySpec<Notifications[N]> } = {
  'tail.entries': { subscription: 'required', entries: 'required' },
  'verify.progress': { request: 'required', entries_checked: 'required', last_seq: 'required' },
  'export.progress': { run_id: 'required', schedule: 'required', objects: 'required', rows: 'required', bytes: 'required', seq: 'required' },
};

const DISCOVERY_KEYS: KeySpec<Discovery> = {
  pid: 'required',
  port: 'required',
  host: 'required',
  protocol: 'required',
  version: 'required',
  started_at: 'required',
};
const ACK_KEYS: KeySpec<IngestAck> = { seq: 'required', id: 'required', duplicate: 'optional' };
const REJECTED_KEYS: KeySpec<IngestRejected> = { error: 'required' };
const PROBLEM_KEYS: KeySpec<VerifyProblem> = { seq: 'required', segment: 'required', code: 'required', reason: 'required' };

function assertKeys(value: unknown, spec: AnyKeySpec, where: string): asserts value is Record<string, unknown> {
  assert.ok(isRecord(value), `${where}: expected an object, got ${JSON.stringify(value)}`);
  for (const key of Object.keys(value)) assert.ok(Object.hasOwn(spec, key), `${where}: unexpected key "${key}"`);
  for (const [key, presence] of Object.entries(spec)) {
    if (presence === 'required') assert.ok(Object.hasOwn(value, key), `${where}: missing key "${key}"`);
  }
}

const ERROR_CODES = new Set<string>(Object.values(ErrorCodes));
const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

function assertWireError(value: unknown, where: string): string {
  assertKeys(value, { code: 'required', message: 'required', data: 'optional' }, where);
  assert.equal(typeof value.code, 'string', `${where}: code`);
  assert.ok(ERROR_CODES.has(String(value.code)), `${where}: "${String(value.code)}" is not one of ErrorCodes`);
  assert.ok(typeof value.message === 'string' && value.message.length > 0, `${where}: message`);
  if (value.data !== undefined) assert.ok(isRecord(value.data), `${where}: data must be an object`);
  return String(value.code);
}

/** An entry as the doc shows it: valid by the schema, a UUIDv7 id, and a hash that really is its hash. */
function assertEntry(value: unknown, where: string): z.output<typeof Entry> {
  const entry = assertSchema(Entry, value, where);
  assert.match(entry.id, UUID_V7, `${where}: id is not a UUIDv7`);
  assert.equal(entryHash(entry), entry.hash, `${where}: hash is not the SHA-256 of the entry's canonical JSON`);
  return entry;
}

function mentions(doc: string, name: string): boolean {
  return doc.includes('`' + name + '`');
}

describe('docs/protocol.md', () => {
  const doc = readFileSync(PROTOCOL_DOC, 'utf8');
  const examples = extractExamples(doc, 'protocol.md');
  const at = (example: Example) => `protocol.md:${example.line} (${example.kind}${example.name === undefined ? '' : ` ${example.name}`})`;
  const ofKind = (kind: string) => examples.filter((e) => e.kind === kind);
  const requests = ofKind('request').map((example) => ({ example, frame: assertSchema(RequestFrame, parseJson(example, 'protocol.md'), at(example)) }));

  test('every example has a known kind and every JSON block is a marked example', () => {
    for (const example of examples) {
      assert.ok(['request', 'response', 'error', 'notification', 'discovery'].includes(example.kind), `${at(example)}: unknown example kind`);
    }
    assert.deepEqual(unmarkedJsonFences(doc), [], 'json blocks without an example marker (line numbers)');
  });

  test('every request parses as a RequestFrame with valid params for its method', () => {
    assert.ok(requests.length > 0);
    for (const { example, frame } of requests) {
      assert.equal(example.name, frame.method, `${at(example)}: the marker names another method than the frame`);
      assert.ok(isMethodName(frame.method), `${at(example)}: unknown method ${frame.method}`);
      assertSchema(Methods[frame.method].params, frame.params ?? {}, `${at(example)} params`);
    }
  });

  test('every ingest event in a request example is a valid IngestEvent', () => {
    let events = 0;
    for (const { example, frame } of requests.filter((r) => r.frame.method === 'ingest')) {
      const { events: list } = assertSchema(Methods.ingest.params, frame.params, at(example));
      assert.ok(list.length <= MAX_BATCH_EVENTS);
      list.forEach((event, index) => {
        const where = `${at(example)} event ${index}`;
        // An event whose documented ack is `invalid_params` must really fail the schema; every other must parse.
        const ack = responseAcksFor(frame.id)?.[index];
        if (isRecord(ack) && isRecord(ack.error) && ack.error.code === ErrorCodes.InvalidParams) {
          assert.equal(IngestEvent.safeParse(event).success, false, `${where}: documented as invalid, but it parses`);
          return;
        }
        assertSchema(IngestEvent, event, where);
        events++;
      });
    }
    assert.ok(events > 0, 'no ingest event was checked');
  });

  /** The `acks` of the ingest response example with this id, if the doc has one. */
  function responseAcksFor(id: string | number): unknown[] | undefined {
    for (const example of ofKind('response').filter((e) => e.name === 'ingest')) {
      const frame = parseJson(example, 'protocol.md');
      if (isRecord(frame) && frame.id === id && isRecord(frame.result) && Array.isArray(frame.result.acks)) return frame.result.acks;
    }
    return undefined;
  }

  test('every method has a request and a response example', () => {
    for (const method of Object.keys(Methods)) {
      assert.ok(requests.some((r) => r.frame.method === method), `no request example for ${method}`);
      assert.ok(ofKind('response').some((e) => e.name === method), `no response example for ${method}`);
      assert.ok(
        doc.split('\n').some((line) => line.startsWith('### ') && line.includes('`' + method + '`')),
        `no section heading for ${method}`,
      );
    }
  });

  test('every response has the result shape of its method, answers a request example, and shows valid entries', () => {
    for (const example of ofKind('response')) {
      const where = at(example);
      const method = example.name ?? '';
      assert.ok(isMethodName(method), `${where}: the marker must name a method`);
      const frame = parseJson(example, 'protocol.md');
      assertKeys(frame, { id: 'required', result: 'required' }, where);
      assert.ok(
        requests.some((r) => r.frame.method === method && r.frame.id === frame.id),
        `${where}: no request example of ${method} with id ${JSON.stringify(frame.id)}`,
      );
      const result = frame.result;
      assertKeys(result, RESULT_KEYS[method], `${where} result`);
      if (method === 'ingest') {
        const acks = result.acks;
        assert.ok(Array.isArray(acks), `${where}: acks`);
        const request = requests.find((r) => r.frame.method === 'ingest' && r.frame.id === frame.id);
        const sent = isRecord(request?.frame.params) ? request.frame.params.events : undefined;
        assert.ok(Array.isArray(sent) && sent.length === acks.length, `${where}: one ack per event of the request`);
        acks.forEach((ack: unknown, index) => {
          const ackAt = `${where} ack ${index}`;
          if (isRecord(ack) && 'error' in ack) {
            assertKeys(ack, REJECTED_KEYS, ackAt);
            const code = assertWireError(ack.error, ackAt);
            if (code === ErrorCodes.FutureTimestamp && isRecord(ack.error) && isRecord(ack.error.data)) {
              assert.equal(ack.error.data.max_skew_ms, MAX_FUTURE_SKEW_MS, `${ackAt}: max_skew_ms`);
            }
          } else {
            assertKeys(ack, ACK_KEYS, ackAt);
            assert.ok(Number.isSafeInteger(ack.seq) && Number(ack.seq) > 0, `${ackAt}: seq`);
            assert.match(String(ack.id), UUID_V7, `${ackAt}: id`);
            if (ack.duplicate !== undefined) assert.equal(ack.duplicate, true, `${ackAt}: duplicate is only ever true`);
          }
        });
      }
      if (method === 'query') {
        assert.ok(Array.isArray(result.entries), `${where}: entries`);
        const entries = result.entries.map((entry: unknown, index) => assertEntry(entry, `${where} entry ${index}`));
        const seqs = entries.map((e) => e.seq);
        assert.deepEqual(seqs, [...seqs].sort((a, b) => b - a), `${where}: query returns newest first`);
        assert.ok(result.next_cursor === null || typeof result.next_cursor === 'string', `${where}: next_cursor`);
      }
      if (method === 'get') assertEntry(result.entry, `${where} entry`);
      if (method === 'verify' && result.problem !== null) assertKeys(result.problem, PROBLEM_KEYS, `${where} problem`);
      if (method === 'settings.get' && frame.id === 1) {
        assert.deepEqual(result, { ...DEFAULT_SETTINGS }, `${where}: a fresh store answers the default settings`);
      }
    }
  });

  test('every error example carries a known error code', () => {
    assert.ok(ofKind('error').length > 0);
    for (const example of ofKind('error')) {
      const where = at(example);
      if (example.name !== undefined) assert.ok(isMethodName(example.name), `${where}: the marker must name a method`);
      const frame = parseJson(example, 'protocol.md');
      assertKeys(frame, { id: 'required', error: 'required' }, where);
      assert.ok(frame.id === null || typeof frame.id === 'string' || Number.isInteger(frame.id), `${where}: id`);
      assertWireError(frame.error, where);
    }
  });

  test('every notification has an example with valid params', () => {
    const names = Object.keys(NOTIFICATION_KEYS) as NotificationName[];
    for (const name of names) {
      assert.ok(ofKind('notification').some((e) => e.name === name), `no example of notification ${name}`);
    }
    for (const example of ofKind('notification')) {
      const where = at(example);
      const name = example.name ?? '';
      assert.ok(Object.hasOwn(NOTIFICATION_KEYS, name), `${where}: unknown notification`);
      const frame = parseJson(example, 'protocol.md');
      assertKeys(frame, { method: 'required', params: 'required' }, where);
      assert.equal(frame.method, name, `${where}: the marker names another notification than the frame`);
      const params = frame.params;
      assertKeys(params, NOTIFICATION_KEYS[name as NotificationName], `${where} params`);
      if (name === 'tail.entries') {
        const entries = params.entries;
        assert.ok(Array.isArray(entries) && entries.length > 0, `${where}: entries`);
        entries.forEach((entry: unknown, index) => assertEntry(entry, `${where} entry ${index}`));
      }
      if (name === 'verify.progress') {
        assert.ok(requests.some((r) => r.frame.method === 'verify' && r.frame.id === params.request), `${where}: request names no verify example`);
      }
    }
  });

  test('the discovery file example has exactly the fields of Discovery', () => {
    const found = ofKind('discovery');
    assert.equal(found.length, 1);
    for (const example of found) {
      const value = parseJson(example, 'protocol.md');
      assertKeys(value, DISCOVERY_KEYS, at(example));
      assert.equal(value.host, '127.0.0.1');
      assert.equal(value.protocol, 1);
    }
  });

  test('every error code is documented in the error table', () => {
    const rows = doc.split('\n').filter((line) => line.startsWith('| `'));
    for (const code of ERROR_CODES) {
      assert.ok(mentions(doc, code), `error code ${code} is not mentioned`);
      assert.ok(rows.some((row) => row.startsWith('| `' + code + '` |')), `error code ${code} has no row in the error table`);
    }
  });

  test('the limits stated match the code', () => {
    assert.ok(doc.includes(`\`MAX_FRAME_BYTES\` = ${MAX_FRAME_BYTES / 1024 / 1024} MiB (${MAX_FRAME_BYTES.toLocaleString('en-US')} bytes)`), 'MAX_FRAME_BYTES');
    assert.ok(doc.includes(`1 to ${MAX_BATCH_EVENTS.toLocaleString('en-US')} events (\`MAX_BATCH_EVENTS\`)`), 'MAX_BATCH_EVENTS');
    assert.ok(doc.includes(`integer 1–${MAX_PAGE} (\`MAX_PAGE\`)`), 'MAX_PAGE');
    assert.ok(doc.includes(`**${MAX_FUTURE_SKEW_MS / 60_000} minutes** (\`MAX_FUTURE_SKEW_MS\`)`), 'MAX_FUTURE_SKEW_MS');
    assert.ok(doc.includes(`Segments close at ${DEFAULT_SEGMENT_MAX_BYTES / 1024 / 1024} MiB`), 'DEFAULT_SEGMENT_MAX_BYTES');
    assert.ok(doc.includes(`default \`${DEFAULT_SETTINGS.content_mode}\``) && doc.includes(`default ${DEFAULT_SETTINGS.retention_days})`), 'DEFAULT_SETTINGS');
  });
});

describe('docs/entry.md', () => {
  const doc = readFileSync(ENTRY_DOC, 'utf8');
  const examples = extractExamples(doc, 'entry.md');
  const at = (example: Example) => `entry.md:${example.line} (${example.kind}${example.name === undefined ? '' : ` ${example.name}`})`;
  const ofKind = (kind: string) => examples.filter((e) => e.kind === kind);

  test('every example has a known kind and every JSON block is a marked example', () => {
    for (const example of examples) {
      assert.ok(['event', 'content', 'segment', 'checkpoint', 'signing-public-key'].includes(example.kind), `${at(example)}: unknown example kind`);
    }
    assert.deepEqual(unmarkedJsonFences(doc), [], 'json blocks without an example marker (line numbers)');
  });

  test('mentions every top-level field of Entry and IngestEvent', () => {
    for (const key of Object.keys(Entry.shape)) assert.ok(mentions(doc, key), `Entry field ${key} is not documented`);
    for (const key of Object.keys(IngestEvent.shape)) assert.ok(mentions(doc, key), `IngestEvent field ${key} is not documented`);
  });

  test('mentions every field of the nested objects', () => {
    const nested: Array<[string, { shape: Record<string, unknown> }]> = [
      ['scanner', Scanner],
      ['actor', Actor],
      ['mcp', Mcp],
      ['file', FileInfo],
      ['context', Context],
      ['scan_result', ScanResult],
      ['content', Content],
    ];
    for (const [prefix, schema] of nested) {
      for (const key of Object.keys(schema.shape)) {
        assert.ok(mentions(doc, key) || doc.includes(`${prefix}.${key}\``), `${prefix}.${key} is not documented`);
      }
    }
  });

  test('the limits stated match the code', () => {
    const n = (value: number) => value.toLocaleString('en-US');
    assert.ok(doc.includes(`at most ${n(Limits.shortString)} characters`), 'Limits.shortString');
    assert.ok(doc.includes(`at most ${n(Limits.text)} characters`), 'Limits.text');
    assert.ok(doc.includes(`at most ${n(Limits.content)} characters`), 'Limits.content');
    assert.ok(doc.includes(`at most ${n(Limits.mapKeys)} keys`), 'Limits.mapKeys');
    assert.ok(doc.includes(`at most ${n(Limits.listItems)} items`), 'Limits.listItems');
    assert.ok(doc.includes(`at most ${n(Limits.metadataBytes)} characters once serialized`), 'Limits.metadataBytes');
    assert.ok(doc.includes(GENESIS_HASH), 'GENESIS_HASH');
    assert.ok(doc.includes(`every ${SPARSE_STEP}th entry`), 'SPARSE_STEP');
    assert.ok(doc.includes(`starts at ${DEFAULT_SEGMENT_MAX_BYTES / 1024 / 1024} MiB`), 'DEFAULT_SEGMENT_MAX_BYTES');
  });

  test('every event example is a valid IngestEvent, every content example a valid Content', () => {
    assert.ok(ofKind('event').length > 0);
    for (const example of ofKind('event')) assertSchema(IngestEvent, parseJson(example, 'entry.md'), at(example));
    for (const example of ofKind('content')) assertSchema(Content, parseJson(example, 'entry.md'), at(example));
  });

  test('the test vectors: canonical lines, hash chain, seed events and the signed checkpoint', () => {
    const [segment] = ofKind('segment');
    const [checkpointExample] = ofKind('checkpoint');
    const [keyExample] = ofKind('signing-public-key');
    assert.ok(segment !== undefined && checkpointExample !== undefined && keyExample !== undefined, 'the test vectors are missing');

    const lines = segment.body.split('\n').filter((line) => line !== '');
    let prev = GENESIS_HASH;
    let seq = 0;
    const entries = lines.map((line, index) => {
      const where = `${at(segment)} line ${index + 1}`;
      const value: unknown = JSON.parse(line);
      assert.equal(canonicalJson(value), line, `${where}: not in canonical form`);
      const entry = assertEntry(value, where);
      assert.equal(entry.seq, seq + 1, `${where}: seq`);
      assert.equal(entry.prev, prev, `${where}: prev`);
      prev = entry.hash;
      seq = entry.seq;
      return entry;
    });

    // The governance, rotalabs and Obot examples of section 9 are the events behind these lines.
    const seedEvents = ['governance', 'rotalabs', 'obot'].map((name) => {
      const example = ofKind('event').find((e) => e.name === name);
      assert.ok(example !== undefined, `no event example named ${name}`);
      return normalizeEvent(assertSchema(IngestEvent, parseJson(example, 'entry.md'), at(example)));
    });
    assert.equal(entries.length, seedEvents.length);
    seedEvents.forEach((event, index) => {
      const entry = entries[index];
      assert.ok(entry !== undefined);
      const { input, output, content_mode: _mode, file: _file, message_length: _length, ts, ...fields } = event;
      for (const [key, value] of Object.entries(fields)) {
        assert.deepEqual((entry as Record<string, unknown>)[key], value, `entry ${entry.seq}: ${key}`);
      }
      if (ts !== undefined) assert.equal(entry.ts, ts, `entry ${entry.seq}: ts`);
      assert.equal(entry.decision, normalizeDecision(event), `entry ${entry.seq}: decision`);
      assert.equal(entry.content.input_length, input?.length, `entry ${entry.seq}: input_length`);
      assert.equal(entry.content.output_length, output?.length, `entry ${entry.seq}: output_length`);
    });

    assert.equal(keyExample.lang, 'text');
    const publicKey = createPublicKey(keyExample.body + '\n');
    assert.equal(publicKey.asymmetricKeyType, 'ed25519');
    const checkpoint = parseJson(checkpointExample, 'entry.md') as Checkpoint;
    assertKeys(
      checkpoint,
      { type: 'required', seq: 'required', hash: 'required', ts: 'required', key_id: 'required', n: 'required', prev: 'required', lost_after: 'optional', sig: 'required' },
      at(checkpointExample),
    );
    assert.ok(checkpointSignatureValid(checkpoint, publicKey), 'the checkpoint signature does not verify under the public key shown');
    assert.equal(checkpoint.seq, seq, 'the checkpoint names the last entry');
    assert.equal(checkpoint.hash, prev, 'the checkpoint names the hash of the last entry');
    const { sig: _sig, ...signed } = checkpoint;
    assert.ok(doc.includes('`' + canonicalJson(signed) + '`'), 'the signed bytes shown are the canonical JSON of the checkpoint');
  });
});
