/**
 * Text from a user, a model or a file is attacker-controlled. Bidirectional controls (U+202A–202E,
 * U+2066–2069, and the marks U+200E, U+200F, U+061C) can make text display in another order than it is
 * read by a model or a scanner ("Trojan Source", CVE-2021-42574), and zero-width characters hide text.
 * So the transcript never lets them act: each one is replaced by a visible marker that names it.
 */

/** The invisible characters shown as markers, with the short label the marker shows. */
export const CONTROL_CHARACTERS: ReadonlyMap<string, { label: string; name: string }> = new Map([
  ['\u202A', { label: 'LRE', name: 'left-to-right embedding' }],
  ['\u202B', { label: 'RLE', name: 'right-to-left embedding' }],
  ['\u202C', { label: 'PDF', name: 'pop directional formatting' }],
  ['\u202D', { label: 'LRO', name: 'left-to-right override' }],
  ['\u202E', { label: 'RLO', name: 'right-to-left override' }],
  ['\u2066', { label: 'LRI', name: 'left-to-right isolate' }],
  ['\u2067', { label: 'RLI', name: 'right-to-left isolate' }],
  ['\u2068', { label: 'FSI', name: 'first strong isolate' }],
  ['\u2069', { label: 'PDI', name: 'pop directional isolate' }],
  ['\u200E', { label: 'LRM', name: 'left-to-right mark' }],
  ['\u200F', { label: 'RLM', name: 'right-to-left mark' }],
  ['\u061C', { label: 'ALM', name: 'Arabic letter mark' }],
  ['\u200B', { label: 'ZWSP', name: 'zero-width space' }],
  ['\u200C', { label: 'ZWNJ', name: 'zero-width non-joiner' }],
  ['\u200D', { label: 'ZWJ', name: 'zero-width joiner' }],
  ['\u2060', { label: 'WJ', name: 'word joiner' }],
  ['\uFEFF', { label: 'BOM', name: 'zero-width no-break space' }],
  ['\u180E', { label: 'MVS', name: 'Mongolian vowel separator' }],
]);

export type TextPiece = { kind: 'text'; text: string } | { kind: 'control'; char: string; label: string; title: string };

function codePoint(char: string): string {
  return `U+${(char.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
}

/** A pictograph, a skin-tone modifier (U+1F3FB–1F3FF) or the emoji presentation selector (U+FE0F). */
function pictographic(char: string | undefined): boolean {
  if (char === undefined) return false;
  const code = char.codePointAt(0) ?? 0;
  return /^\p{Extended_Pictographic}$/u.test(char) || (code >= 0x1f3fb && code <= 0x1f3ff) || code === 0xfe0f;
}

/** A zero-width joiner inside an emoji sequence (👩‍💻) joins pictographs and is left alone. */
function emojiJoiner(chars: readonly string[], i: number): boolean {
  return chars[i] === '\u200D' && pictographic(chars[i - 1]) && /^\p{Extended_Pictographic}$/u.test(chars[i + 1] ?? '');
}

/** Splits text into plain runs and the control characters between them (none are dropped). */
export function splitControls(text: string): TextPiece[] {
  if (![...CONTROL_CHARACTERS.keys()].some((char) => text.includes(char))) return text === '' ? [] : [{ kind: 'text', text }];
  const pieces: TextPiece[] = [];
  let plain = '';
  const chars = [...text];
  for (const [i, char] of chars.entries()) {
    const control = CONTROL_CHARACTERS.get(char);
    if (control === undefined || emojiJoiner(chars, i)) {
      plain += char;
      continue;
    }
    if (plain !== '') pieces.push({ kind: 'text', text: plain });
    plain = '';
    pieces.push({ kind: 'control', char, label: control.label, title: `${codePoint(char)} ${control.name}: an invisible character that changes how text is shown; it is displayed here instead of acting` });
  }
  if (plain !== '') pieces.push({ kind: 'text', text: plain });
  return pieces;
}

/** Appends `text` to `parent` as text nodes, with a visible, titled marker for each control character. */
export function appendVisibleText(parent: Node, text: string, doc: Document): void {
  for (const piece of splitControls(text)) {
    if (piece.kind === 'text') {
      parent.appendChild(doc.createTextNode(piece.text));
      continue;
    }
    const marker = doc.createElement('span');
    marker.className = 'control-char';
    marker.textContent = piece.label;
    marker.title = piece.title;
    marker.dataset.codepoint = codePoint(piece.char);
    parent.appendChild(marker);
  }
}
