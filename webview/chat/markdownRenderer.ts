/**
 * A small markdown renderer for model answers that cannot produce HTML: the text is parsed into a
 * tiny AST, and the AST is turned into DOM nodes with createElement and textContent only. Answers are
 * attacker-controlled (prompt injection can make a model write anything), so no string ever becomes markup,
 * invisible control characters are shown as markers, and a link shows its real target and opens only
 * through the extension, which asks first.
 */

export type Inline =
  | { kind: 'text'; text: string }
  | { kind: 'code'; text: string }
  | { kind: 'strong'; children: Inline[] }
  | { kind: 'em'; children: Inline[] }
  | { kind: 'link'; href: string; children: Inline[] };

export type Block =
  | { kind: 'paragraph'; inlines: Inline[] }
  | { kind: 'heading'; level: 1 | 2 | 3 | 4 | 5 | 6; inlines: Inline[] }
  | { kind: 'code'; language: string; text: string }
  | { kind: 'list'; ordered: boolean; items: Inline[][] }
  | { kind: 'quote'; inlines: Inline[] };

import { appendVisibleText } from './visibleText.ts';

/** Links become anchors only for these schemes; anything else (javascript:, data:, file:) stays text. */
const SAFE_LINK = /^(https?:\/\/|mailto:)/i;

export function parseInlines(text: string): Inline[] {
  const out: Inline[] = [];
  let plain = '';
  const flush = () => {
    if (plain !== '') out.push({ kind: 'text', text: plain });
    plain = '';
  };
  let i = 0;
  while (i < text.length) {
    const rest = text.slice(i);
    const code = /^`([^`]+)`/.exec(rest);
    if (code?.[1] !== undefined) {
      flush();
      out.push({ kind: 'code', text: code[1] });
      i += code[0].length;
      continue;
    }
    const strong = /^\*\*(.+?)\*\*/.exec(rest) ?? /^__(.+?)__/.exec(rest);
    if (strong?.[1] !== undefined) {
      flush();
      out.push({ kind: 'strong', children: parseInlines(strong[1]) });
      i += strong[0].length;
      continue;
    }
    const em = /^\*([^*\s][^*]*?)\*/.exec(rest) ?? /^_([^_\s][^_]*?)_(?![A-Za-z0-9])/.exec(rest);
    if (em?.[1] !== undefined) {
      flush();
      out.push({ kind: 'em', children: parseInlines(em[1]) });
      i += em[0].length;
      continue;
    }
    const link = /^\[([^\]]+)\]\(([^)\s]+)\)/.exec(rest);
    if (link?.[1] !== undefined && link[2] !== undefined) {
      flush();
      if (SAFE_LINK.test(link[2])) out.push({ kind: 'link', href: link[2], children: parseInlines(link[1]) });
      else out.push({ kind: 'text', text: link[0] });
      i += link[0].length;
      continue;
    }
    plain += text[i];
    i++;
  }
  flush();
  return out;
}

export function parseMarkdown(source: string): Block[] {
  const lines = source.replace(/\r\n?/g, '\n').split('\n');
  const blocks: Block[] = [];
  let paragraph: string[] = [];
  const endParagraph = () => {
    if (paragraph.length > 0) blocks.push({ kind: 'paragraph', inlines: parseInlines(paragraph.join('\n')) });
    paragraph = [];
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    const fence = /^\s*(```+|~~~+)\s*([\w+#.-]*)\s*$/.exec(line);
    if (fence?.[1] !== undefined) {
      endParagraph();
      const body: string[] = [];
      let j = i + 1;
      while (j < lines.length && !(lines[j] ?? '').trim().startsWith(fence[1])) body.push(lines[j++] ?? '');
      blocks.push({ kind: 'code', language: fence[2] ?? '', text: body.join('\n') });
      i = j;
      continue;
    }
    const heading = /^(#{1,6})\s+(.*)$/.exec(line);
    if (heading?.[1] !== undefined) {
      endParagraph();
      blocks.push({ kind: 'heading', level: heading[1].length as 1 | 2 | 3 | 4 | 5 | 6, inlines: parseInlines(heading[2] ?? '') });
      continue;
    }
    const item = /^\s*([-*+]|\d+[.)])\s+(.*)$/.exec(line);
    if (item?.[1] !== undefined) {
      endParagraph();
      const ordered = /\d/.test(item[1]);
      const last = blocks.at(-1);
      const inlines = parseInlines(item[2] ?? '');
      if (last?.kind === 'list' && last.ordered === ordered) last.items.push(inlines);
      else blocks.push({ kind: 'list', ordered, items: [inlines] });
      continue;
    }
    const quote = /^>\s?(.*)$/.exec(line);
    if (quote !== null) {
      endParagraph();
      blocks.push({ kind: 'quote', inlines: parseInlines(quote[1] ?? '') });
      continue;
    }
    if (line.trim() === '') endParagraph();
    else paragraph.push(line);
  }
  endParagraph();
  return blocks;
}

/** What rendered answers can ask of their host. */
export interface RenderActions {
  /** A code block's copy button: its exact text. */
  onCopy(text: string): void;
  /** A link was activated: the host asks before opening it. */
  onLink(href: string): void;
}

function renderLink(inline: Extract<Inline, { kind: 'link' }>, doc: Document, actions: RenderActions): HTMLElement {
  // No href: the webview host would open an anchor's href at once. The real target shows on hover and
  // is opened by the extension after the user confirmed it.
  const link = doc.createElement('a');
  link.className = 'link';
  link.tabIndex = 0;
  link.setAttribute('role', 'link');
  link.dataset.href = inline.href;
  link.title = `${inline.href}\n(from a model answer: you are asked before it opens)`;
  const open = (event: Event) => {
    event.preventDefault();
    actions.onLink(inline.href);
  };
  link.addEventListener('click', open);
  link.addEventListener('keydown', (event) => {
    if (event.key === 'Enter') open(event);
  });
  return link;
}

function renderInlines(inlines: Inline[], doc: Document, parent: HTMLElement, actions: RenderActions): void {
  for (const inline of inlines) {
    if (inline.kind === 'text') appendVisibleText(parent, inline.text, doc);
    else if (inline.kind === 'code') {
      const code = doc.createElement('code');
      appendVisibleText(code, inline.text, doc);
      parent.append(code);
    } else {
      const element = inline.kind === 'link' ? renderLink(inline, doc, actions) : doc.createElement(inline.kind === 'strong' ? 'strong' : 'em');
      renderInlines(inline.children, doc, element, actions);
      parent.append(element);
    }
  }
}

/** Renders blocks as DOM; code blocks get a copy button that copies their exact text. */
export function renderMarkdown(blocks: Block[], doc: Document, actions: RenderActions): DocumentFragment {
  const fragment = doc.createDocumentFragment();
  for (const block of blocks) {
    if (block.kind === 'code') {
      const wrapper = doc.createElement('div');
      wrapper.className = 'code-block';
      const bar = doc.createElement('div');
      bar.className = 'code-bar';
      const label = doc.createElement('span');
      label.textContent = block.language;
      const copy = doc.createElement('button');
      copy.className = 'copy';
      copy.title = 'Copy';
      copy.setAttribute('aria-label', 'Copy code');
      const icon = doc.createElement('span');
      icon.className = 'codicon codicon-copy';
      copy.append(icon);
      copy.addEventListener('click', () => actions.onCopy(block.text));
      bar.append(label, copy);
      const pre = doc.createElement('pre');
      const code = doc.createElement('code');
      appendVisibleText(code, block.text, doc);
      pre.append(code);
      wrapper.append(bar, pre);
      fragment.append(wrapper);
      continue;
    }
    if (block.kind === 'list') {
      const list = doc.createElement(block.ordered ? 'ol' : 'ul');
      for (const item of block.items) {
        const li = doc.createElement('li');
        renderInlines(item, doc, li, actions);
        list.append(li);
      }
      fragment.append(list);
      continue;
    }
    const element = doc.createElement(block.kind === 'heading' ? `h${block.level}` : block.kind === 'quote' ? 'blockquote' : 'p');
    renderInlines(block.inlines, doc, element, actions);
    fragment.append(element);
  }
  return fragment;
}
