import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { storedLineFields } from '../../../daemon/export/storedLineFields.ts';
import { canonicalJson } from '../../../daemon/store/canonicalJson.ts';

/** A stored line (canonical JSON, as the store writes it) inside a buffer, with other lines around it. */
function inBuffer(entry: Record<string, unknown>): { data: Buffer; start: number; end: number } {
  const before = canonicalJson({ seq: 999, ts: 'before', v: 1 }) + '\n';
  const line = canonicalJson(entry);
  const data = Buffer.from(before + line + '\n' + canonicalJson({ seq: 1001, ts: 'after', v: 1 }) + '\n');
  const start = Buffer.byteLength(before);
  return { data, start, end: start + Buffer.byteLength(line) };
}

const base = {
  v: 1,
  seq: 1000,
  id: '0193f1d2-8c4e-7a10-9b21-5f0e4c3d2a11',
  recorded_at: '2026-11-22T10:15:00.200Z',
  ts: '2026-11-22T10:15:00.120Z',
  kind: 'chat.input',
  decision: 'allowed',
  content: { mode: 'hash', input_length: 3 },
  prev: '0'.repeat(64),
  hash: 'a'.repeat(64),
};

describe('seq and ts read from a stored line without parsing it', () => {
  test('the entry own seq and ts, also when nested objects before them hold a seq and a ts', () => {
    const entry = { ...base, metadata: { seq: 5, ts: 'nested', deeper: { seq: 6 } }, scanner: { name: 'x', scores: { seq: 0.5 } } };
    const { data, start, end } = inBuffer(entry);
    assert.deepEqual(storedLineFields(data, start, end), { seq: 1000, ts: base.ts });
  });

  test('the same as a parse for members after seq: source_id, threat_level, a ts with an offset', () => {
    const entry = { ...base, source_id: 'src-1', threat_level: 'low', ts: '2026-11-22T12:15:00.120+02:00' };
    const { data, start, end } = inBuffer(entry);
    const parsed = JSON.parse(data.toString('utf8', start, end)) as { seq: number; ts: string };
    assert.deepEqual(storedLineFields(data, start, end), { seq: parsed.seq, ts: parsed.ts });
  });

  test('null (then the line is parsed) when the tail is not shaped as expected', () => {
    // A `}` in a string after seq: not provably the entry's own seq from the tail alone.
    const brace = inBuffer({ ...base, source_id: 'a}b' });
    assert.equal(storedLineFields(brace.data, brace.start, brace.end), null);
    // An object member after seq (not in today's entries): its seq could be nested.
    const later = inBuffer({ ...base, zz: { seq: 7 } });
    assert.equal(storedLineFields(later.data, later.start, later.end), null);
    // No seq in the line: the previous line's must not be taken.
    const noSeq = inBuffer({ v: 1, ts: base.ts });
    assert.equal(storedLineFields(noSeq.data, noSeq.start, noSeq.end), null);
    // Not JSON of an object.
    const torn = Buffer.from('{"seq":1,"ts":"x"');
    assert.equal(storedLineFields(torn, 0, torn.length), null);
    // Its head overwritten, its tail intact: not read from the tail (the export parses it, and refuses it).
    const overwritten = inBuffer(base);
    overwritten.data.write('#DAMAGED#', overwritten.start, 'latin1');
    assert.equal(storedLineFields(overwritten.data, overwritten.start, overwritten.end), null);
  });

  test('an edited line: what a parse reads, or null, never another seq or ts (a wrong partition)', () => {
    const line = canonicalJson({ ...base, source_id: 'src-1' });
    const edits: Array<[string, string]> = [
      ['ts repeated after it', line.replace('"v":1', '"ts":"2026-12-25T00:00:00.000Z","v":1')],
      ['ts repeated, not a string', line.replace('"v":1', '"ts":5,"v":1')],
      ['ts repeated with an escaped key', line.replace('"v":1', '"t\\u0073":"2026-12-25T00:00:00.000Z","v":1')],
      ['ts repeated after white space', line.replace('"v":1', ' "ts":"2026-12-25T00:00:00.000Z","v":1')],
      ['seq repeated with an escaped key', line.replace('"v":1', '"s\\u0065q":7,"v":1')],
      ['seq repeated after white space', line.replace('"v":1', '"v":1, "seq":7')],
      ['seq repeated', line.replace('"v":1', '"v":1,"seq":7')],
      ['seq as 1e3', line.replace('"seq":1000', '"seq":1e3')],
      ['seq as a string', line.replace('"seq":1000', '"seq":"1000"')],
      ['seq with a leading zero', line.replace('"seq":1000', '"seq":01000')],
      ['seq negative zero', line.replace('"seq":1000', '"seq":-0')],
      ['a nested seq near the end', line.replace('"v":1', '"v":1,"z":{"a":",\\"seq\\":7"}')],
      ['a string holding a tail', line.replace('"src-1"', '"x\\",\\"seq\\":7,\\"ts\\":\\"2026-12-25\\"}"')],
      ['bytes after the closing brace', line + ' '],
    ];
    for (const [name, edited] of edits) {
      assert.notEqual(edited, line, name);
      const data = Buffer.from(edited);
      const fields = storedLineFields(data, 0, data.length);
      if (fields === null) continue;
      const parsed = JSON.parse(edited) as { seq: unknown; ts: unknown };
      assert.deepEqual(fields, { seq: parsed.seq, ts: parsed.ts }, name);
    }
  });
});
