import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const WEBVIEW = fileURLToPath(new URL('../../../webview/', import.meta.url));

/** The part of an element that `el` touches; `innerHTML` is recorded to prove it is never set. */
class RecordingElement {
  className = '';
  textContent: string | null = null;
  innerHTMLSet = false;
  constructor(readonly tagName: string) {}
  set innerHTML(_value: string) {
    this.innerHTMLSet = true;
  }
}

test('el() makes an element whose class and text are set as text, never as markup', async () => {
  // The webviews run in a browser; here a minimal document stands in for the one call el() makes.
  const fake = { createElement: (tag: string) => new RecordingElement(tag) };
  (globalThis as { document?: unknown }).document = fake;
  try {
    const { el } = await import('../../../webview/shared/dom.ts');
    const element = el('span', 'badge blocked', '<img src=x onerror=alert(1)>') as unknown as RecordingElement;
    assert.equal(element.tagName, 'span');
    assert.equal(element.className, 'badge blocked');
    assert.equal(element.textContent, '<img src=x onerror=alert(1)>');
    assert.equal(element.innerHTMLSet, false);
    const bare = el('div') as unknown as RecordingElement;
    assert.equal(bare.className, '');
    assert.equal(bare.textContent, null);
  } finally {
    delete (globalThis as { document?: unknown }).document;
  }
});

test('the webviews share one el() (webview/shared/dom.ts): no view defines its own', async () => {
  const files = (await readdir(WEBVIEW, { recursive: true })).filter((f) => f.endsWith('.ts'));
  const defining: string[] = [];
  for (const file of files) {
    if (/\bfunction el\s*[<(]|\bconst el\s*=/.test(await readFile(join(WEBVIEW, file), 'utf8'))) defining.push(file.replaceAll('\\', '/'));
  }
  assert.deepEqual(defining, ['shared/dom.ts']);
});
