import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Entry } from '../../../daemon/protocol/entry.ts';
import { canonicalJson } from '../../../daemon/store/canonicalJson.ts';
import { sealEntry } from '../../support/sealEntry.ts';
import { EntryLineView } from '../../../daemon/store/entryLineView.ts';

const base = (extra: Record<string, unknown> = {}): Omit<Entry, 'hash'> =>
  ({
    v: 1,
    seq: 12,
    id: '01a233ec-398a-7bd6-a641-935210982ba9',
    ts: '2026-11-20T10:00:00.000+02:00',
    recorded_at: '2026-11-20T10:00:00.123Z',
    kind: 'chat.input',
    decision: 'warned',
    content: { mode: 'hash', input_length: 3 },
    prev: 'a'.repeat(64),
    ...extra,
  }) as Omit<Entry, 'hash'>;

/** Reads a stored line (without its newline) the way verify does, with a few bytes around it. */
function read(line: string, view = new EntryLineView()): EntryLineView | null {
  const buf = Buffer.from(`{}\n${line}\nxx`, 'utf8');
  const start = 3;
  return view.read(buf, start, start + Buffer.byteLength(line), true) ? view : null;
}

const fieldsOf = (entry: Entry) => ({
  seq: entry.seq,
  prev: entry.prev,
  hash: entry.hash,
  ts: entry.ts,
  recorded_at: entry.recorded_at,
  kind: entry.kind,
  decision: entry.decision,
  scanner: entry.scanner,
  idempotency_key: entry.idempotency_key,
  risk_score: entry.risk_score,
  model: entry.model,
  operation: entry.operation,
});

test('a stored line reads as JSON.parse reads it, and hashes to its hash', () => {
  const view = new EntryLineView();
  const entries = [
    base(),
    base({ scanner: { name: 'lakera', flagged: true, categories: { pii: true, 'x"y': 2 } }, risk_score: 0.000015, model: 'gpt-4o', operation: 'chat', idempotency_key: 'k-é-\u2028' }),
    // Nested members named like the top-level ones, and strings that hold quotes, braces and escapes.
    base({ audit: { hash: 'b'.repeat(64), prev: 'c'.repeat(64), seq: 3, recorded_at: 'x' }, metadata: { seq: 99, prev: '"},"seq":1', hash: '\\"' }, reason: '}{"hash":"' }),
    base({ model: 'modèle ☃', operation: 'a\nb', ts: '2026-11-20T10:00:00Z' }),
    base({ seq: 1, prev: '0'.repeat(64), decision: 'allowed', kind: 'audit.settings', audit: {} }),
  ];
  // The verify workers' view hashes each line where it lies in the buffer (inPlace): the same reads.
  for (const reader of [view, new EntryLineView(true)]) {
    for (const unsealed of entries) {
      const { entry, line } = sealEntry(unsealed);
      const stored = line.slice(0, -1);
      const got = read(stored, reader);
      assert.ok(got !== null, stored);
      assert.equal(got.hashMatches, true, stored);
      assert.deepEqual({ ...got.fields }, fieldsOf(JSON.parse(stored) as Entry));
      assert.deepEqual({ ...got.fields }, fieldsOf(entry));
    }
  }
});

test('values repeated from line to line, escaped or not, read as each line\'s own', () => {
  const view = new EntryLineView(true);
  // Same byte lengths one after the other: only the bytes tell them apart.
  const models = ['a\nb', 'a\nb', 'a\tb', 'aé', 'aé', 'ab\n', 'abc', 'abc', 'x'.repeat(300), 'x'.repeat(300), `${'x'.repeat(299)}y`];
  for (const [i, model] of models.entries()) {
    const { line } = sealEntry(base({ model, ts: i % 2 === 0 ? '2026-11-20T10:00:00.000Z' : '2026-11-20T10:00:00.001Z' }));
    const stored = line.slice(0, -1);
    const got = read(stored, view);
    assert.ok(got !== null, stored);
    assert.deepEqual({ ...got.fields }, fieldsOf(JSON.parse(stored) as Entry));
  }
});

test('an edited line still reads but does not hash to its hash', () => {
  const { line } = sealEntry(base({ metadata: { n: 5 } }));
  const got = read(line.slice(0, -1).replace('"n":5', '"n":6'));
  assert.ok(got !== null);
  assert.equal(got.hashMatches, false);
  assert.equal(read(line.slice(0, -1).replace('"n":5', '"n":6'), new EntryLineView(true))?.hashMatches, false);
  // Not a validator: a nested value it only skips may be invalid JSON; its hash is what fails.
  const invalid = read(line.slice(0, -1).replace('"n":5', '"n":tru'));
  assert.ok(invalid !== null);
  assert.equal(invalid.hashMatches, false);
});

test('lines not in the shape the daemon writes are left to JSON.parse', () => {
  const { entry, line } = sealEntry(base());
  const stored = line.slice(0, -1);
  const hostile = [
    stored.replace('"decision":', '"decision": '),
    stored.replace(`"seq":12`, '"seq":12.0'),
    stored.replace(`"seq":12`, '"seq":1e1'),
    stored.replace(`"seq":12`, '"seq":012'),
    stored.replace(`"seq":12`, '"seq":"12"'),
    stored.replace(`,"v":1}`, ',"seq":13,"v":1}'),
    stored.replace(`"ts":`, '"tt":1,"ts":'),
    stored.replace(`"prev":"${entry.prev}"`, `"prev":"${entry.prev}0"`),
    stored.replace(`"hash":"${entry.hash}"`, `"hash":"${entry.hash.slice(1)}"`),
    stored.replace(`"hash":"${entry.hash}",`, ''),
    stored.replace(`"prev":"${entry.prev}",`, ''),
    stored.replace(`"recorded_at":"${entry.recorded_at}",`, ''),
    stored.replace(`"kind":"chat.input"`, '"kind":5'),
    canonicalJson({ ...entry, decision: undefined }).replace('{', '{"zz":1,'),
    // Not JSON inside values the scanner skips or decodes: refused, never thrown.
    stored.replace('"decision":"warned"', '"decision":"war\\xned"'),
    stored.replace('"kind":"chat.input"', '"kind":"chat\\.input"'),
    stored.replace(',"seq":', ',"scanner":{"flagged":tru},"seq":'),
    stored.replace(',"ts":', ',"idempotency_key":"\\q","ts":'),
    stored.slice(0, -1),
    stored + ' ',
    `${stored}\n${stored}`,
  ];
  for (const text of hostile) assert.equal(read(text), null, text);
});
