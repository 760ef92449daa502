import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MEMBER_SLOTS, scanMembers, stringEnd } from '../../../daemon/store/jsonMemberScanner.ts';

/** The members scanMembers finds in `text`, as [key, value text] pairs, or null when it refuses the bytes. */
function members(text: string, canonicalKeys = true): Array<[string, string]> | null {
  const buf = Buffer.from(`xx${text}yy`, 'utf8');
  const out = new Int32Array(64 * MEMBER_SLOTS);
  const count = scanMembers(buf, 2, buf.length - 2, out, canonicalKeys);
  if (count < 0) return null;
  const found: Array<[string, string]> = [];
  for (let m = 0; m < count; m++) {
    const at = m * MEMBER_SLOTS;
    found.push([buf.toString('utf8', out[at], out[at + 1]), buf.toString('utf8', out[at + 2], out[at + 3])]);
  }
  return found;
}

test('the top-level members of a canonical line, with their values as written', () => {
  const line = JSON.stringify({ a: { hash: 'x', prev: { seq: 1 } }, b: [1, '{', ']'], hash: 'h', n: -1.5e-7, prev: 'p', s: 'é"\\', t: true, z: null });
  assert.deepEqual(members(line), [
    ['a', '{"hash":"x","prev":{"seq":1}}'],
    ['b', '[1,"{","]"]'],
    ['hash', '"h"'],
    ['n', '-1.5e-7'],
    ['prev', '"p"'],
    ['s', '"é\\"\\\\"'],
    ['t', 'true'],
    ['z', 'null'],
  ]);
  assert.deepEqual(members('{}'), []);
});

test('nested keys named like top-level ones are never taken for members', () => {
  // A "prev" inside an object, a string holding `","prev":"`, and an array of objects: one member each.
  const nested = '{"a":{"prev":"0","seq":9},"b":"\\",\\"prev\\":\\"1","c":[{"hash":"2"}],"d":"}{]["}';
  assert.deepEqual(
    members(nested)?.map(([key]) => key),
    ['a', 'b', 'c', 'd'],
  );
});

test('escaped quotes: a quote after an odd run of backslashes is escaped, after an even run it closes', () => {
  const long = 'x'.repeat(40);
  for (const body of ['\\"', '\\\\', `${long}\\"${long}`, `${long}\\\\\\\\`, `${long}\\\\\\"${long}`, '\\u0022', `${long}\\u005c`]) {
    const text = `{"k":"${body}","l":1}`;
    assert.deepEqual(members(text), [['k', `"${body}"`], ['l', '1']], body);
    assert.equal(JSON.parse(text).k, JSON.parse(`"${body}"`));
  }
  const buf = Buffer.from(`"${long}\\\\"`);
  assert.equal(stringEnd(buf, 0, buf.length), buf.length - 1);
  assert.equal(stringEnd(Buffer.from(`"${long}\\"`), 0, long.length + 3), -1);
});

test('unicode in strings is skipped byte by byte; keys outside ASCII are refused when keys must be canonical', () => {
  assert.deepEqual(members('{"a":"☃ 𝄞 é","b":"\\ud800"}'), [['a', '"☃ 𝄞 é"'], ['b', '"\\ud800"']]);
  assert.equal(members('{"é":1}'), null);
  assert.deepEqual(members('{"é":1}', false), [['é', '1']]);
  assert.equal(members('{"\\u0061":1}'), null);
});

test('non-canonical order and duplicate keys are refused, not resolved', () => {
  assert.equal(members('{"b":1,"a":2}'), null);
  assert.equal(members('{"seq":1,"seq":2}'), null);
  assert.equal(members('{"hash":"x","ha":"y"}'), null);
  assert.deepEqual(members('{"b":1,"a":2,"b":3}', false)?.length, 3);
});

test('truncated and malformed lines are refused', () => {
  const line = '{"a":{"b":[1,2]},"c":"d"}';
  for (let cut = 1; cut < line.length; cut++) assert.equal(members(line.slice(0, cut)), null, line.slice(0, cut));
  for (const bad of ['', '[]', '"x"', '{"a"}', '{"a":}', '{"a":1,}', '{,"a":1}', '{"a" :1}', '{ "a":1}', '{"a":1 ,"b":2}', '{"a":"x}', '{"a":{"b":1}', 'x{"a":1}']) {
    assert.equal(members(bad), null, bad);
  }
});

test('more members than the output holds are refused', () => {
  const wide = JSON.stringify(Object.fromEntries(Array.from({ length: 70 }, (_, i) => [`k${String(i).padStart(2, '0')}`, i])));
  assert.equal(members(wide), null);
});
