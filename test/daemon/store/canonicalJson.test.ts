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

test('every string is written exactly as JSON.stringify writes it, short or long, plain or with escapes', () => {
  const odd = ['', 'a', '"', '\\', '\n', '\u0000', '\u001f', ' ', '~', '\u007f', 'é', '\u2028', '😀', '\ud800', '\udfff', '/'];
  const strings = [...odd, ...odd.map((c) => 'abc' + c + 'def')];
  for (const length of [127, 128, 129, 300]) {
    strings.push('x'.repeat(length), 'x'.repeat(length - 1) + '"', '"' + 'x'.repeat(length - 1));
  }
  for (let i = 0; i < 2000; i++) {
    let text = '';
    for (let j = (i * 7) % 150; j > 0; j--) text += String.fromCharCode(Math.floor((((i * 31 + j * 17) % 7 === 0 ? 0x10000 : 0x80) * ((Math.imul(i + 1, 2654435761) ^ Math.imul(j, 40503)) >>> 0)) / 4294967296));
    strings.push(text);
  }
  for (const text of strings) {
    assert.equal(canonicalJson(text), JSON.stringify(text));
    assert.equal(canonicalJson({ [text]: text }), `{${JSON.stringify(text)}:${JSON.stringify(text)}}`);
  }
});
