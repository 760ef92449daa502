import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseInlines, parseMarkdown, type Block, type Inline } from '../../../webview/chat/markdownRenderer.ts';

const kinds = (blocks: Block[]) => blocks.map((b) => b.kind);

function allInlines(blocks: Block[]): Inline[] {
  const out: Inline[] = [];
  const walk = (inlines: Inline[]) => {
    for (const inline of inlines) {
      out.push(inline);
      if ('children' in inline) walk(inline.children);
    }
  };
  for (const block of blocks) {
    if (block.kind === 'list') block.items.forEach(walk);
    else if (block.kind !== 'code') walk(block.inlines);
  }
  return out;
}

test('paragraphs, headings, lists, quotes and fenced code', () => {
  const blocks = parseMarkdown('# Title\n\nSome **bold** and *em* and `code`.\n\n- one\n- two\n\n1. first\n2. second\n\n> quoted\n\n```ts\nconst a = 1;\n  indented();\n```\n');
  assert.deepEqual(kinds(blocks), ['heading', 'paragraph', 'list', 'list', 'quote', 'code']);
  assert.deepEqual(blocks[5], { kind: 'code', language: 'ts', text: 'const a = 1;\n  indented();' });
  const list = blocks[3];
  assert.ok(list?.kind === 'list' && list.ordered && list.items.length === 2);
  assert.deepEqual(parseInlines('a **b** `c`'), [
    { kind: 'text', text: 'a ' },
    { kind: 'strong', children: [{ kind: 'text', text: 'b' }] },
    { kind: 'text', text: ' ' },
    { kind: 'code', text: 'c' },
  ]);
});

test('HTML in an answer stays text: no node kind can carry markup', () => {
  const hostile = '<script>alert(1)</script>\n\n<img src=x onerror=alert(1)>\n\n&lt;b&gt; **<i>x</i>**';
  const blocks = parseMarkdown(hostile);
  const texts = allInlines(blocks).filter((i) => i.kind === 'text').map((i) => (i as { text: string }).text).join('|');
  assert.match(texts, /<script>alert\(1\)<\/script>/);
  assert.match(texts, /<img src=x onerror=alert\(1\)>/);
  assert.ok(allInlines(blocks).every((i) => ['text', 'code', 'strong', 'em', 'link'].includes(i.kind)));
});

test('only http, https and mailto links become links', () => {
  const links = allInlines(parseMarkdown('[a](https://example.com) [b](javascript:alert(1)) [c](data:text/html,x) [d](mailto:x@y.z) [e](file:///etc/passwd)')).filter(
    (i) => i.kind === 'link',
  );
  assert.deepEqual(links.map((l) => (l as { href: string }).href), ['https://example.com', 'mailto:x@y.z']);
});
