// Registers the `vscode-button` element here, so that every view that makes a button has it defined.
import '@vscode-elements/elements/dist/vscode-button/index.js';

/** A `vscode-button` (from @vscode-elements/elements) with a codicon and a fixed label. */
export function button(id: string, label: string, options: { icon?: string; secondary?: boolean; title?: string } = {}): HTMLElement {
  const element = document.createElement('vscode-button');
  element.id = id;
  element.textContent = label;
  if (options.icon !== undefined) element.setAttribute('icon', options.icon);
  if (options.secondary === true) element.setAttribute('secondary', '');
  if (options.title !== undefined) element.title = options.title;
  return element;
}
