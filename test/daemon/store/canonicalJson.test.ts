import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalJson } from '../../../daemon/store/canonicalJson.ts';

test('sorts keys at every depth by UTF-16 code units, with no white space', () => {
  assert.equal(canonicalJson({ b: 1, a: { d: [3, { z: true, y: null }], c: 'x' } }), '{"a":{"c":"x","d":[3,{"y":null,"z":true}]},"b":1}');
});

test('integer-like keys sort as strings, not in the engine\'s numeric order', () => {
  const value = { '10': 'ten', '9': 'nine', a: 'letter' };
  assert.equal(JSON.stringify(value), '{"9":"nine","10":"ten","a":"letter"}');
  assert.equal(canonicalJson(value), '{"10":"ten","9":"nine","a":"letter"}');
});

test('strings and numbers are written as JSON.stringify writes them', () => {
  assert.equal(canonicalJson({ s: 'é"\n\u2028', n: 1e21, f: 0.1, neg: -0 }), '{"f":0.1,"n":1e+21,"neg":0,"s":"é\\"\\n\u2028"}');
});

test('undefined members are left out', () => {
  assert.equal(canonicalJson({ a: undefined, b: 2 }), '{"b":2}');
});
