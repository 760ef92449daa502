import assert from 'node:assert/strict';
import { test } from 'node:test';
import { splitControls } from '../../../webview/chat/visibleText.ts';

test('bidi overrides, isolates, marks and zero-width characters become named markers; nothing is dropped', () => {
  const pieces = splitControls('pay \u202Eeulav\u202C now\u200B!');
  assert.deepEqual(
    pieces.map((p) => (p.kind === 'text' ? p.text : `[${p.label}]`)),
    ['pay ', '[RLO]', 'eulav', '[PDF]', ' now', '[ZWSP]', '!'],
  );
  const rlo = pieces[1];
  assert.ok(rlo?.kind === 'control');
  assert.match(rlo.title, /^U\+202E right-to-left override/);
  for (const char of ['\u202A', '\u202B', '\u202D', '\u2066', '\u2067', '\u2068', '\u2069', '\u200C', '\u200D', '\u2060', '\uFEFF']) {
    assert.equal(splitControls(`a${char}b`)[1]?.kind, 'control', `U+${char.codePointAt(0)?.toString(16)}`);
  }
});

test('ordinary text, including right-to-left scripts and emoji, stays one text piece', () => {
  for (const text of ['hello', 'שלום עולם', 'مرحبا', 'a \u{1F469}\u200D\u{1F4BB} b', '\u{1F3F3}\uFE0F\u200D\u{1F308}']) {
    assert.deepEqual(splitControls(text), [{ kind: 'text', text }]);
  }
  assert.deepEqual(splitControls(''), []);
});
