import '@vscode-elements/elements/dist/vscode-progress-ring/index.js';
import { FromWebview, MAX_PROMPT_CHARS, ToWebview } from '../protocol/chatMessages.ts';
import { button } from '../shared/button.ts';
import { el } from '../shared/dom.ts';
import { parseMarkdown, renderMarkdown, type RenderActions } from './markdownRenderer.ts';
import { appendVisibleText } from './visibleText.ts';

/**
 * The chat webview: browser code only. Every message from the extension is validated with the shared
 * schema before dispatch (through a table keyed by type); every string from a user, a model or the log
 * is rendered as text.
 */

interface VsCodeApi {
  postMessage(message: FromWebview): void;
  getState(): unknown;
  setState(state: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

const vscode = acquireVsCodeApi();
const doc = document;

function post(message: FromWebview): void {
  // Checked on the way out too: a bug here must not become an unexpected message in the extension.
  const parsed = FromWebview.safeParse(message);
  if (parsed.success) vscode.postMessage(parsed.data);
  else console.error('not sent: invalid message', parsed.error.issues);
}

// ---- layout -------------------------------------------------------------------------------------
const app = doc.getElementById('app') ?? doc.body;
const header = el('header', 'header');
const modelSelect = el('select', 'model');
modelSelect.id = 'model';
modelSelect.setAttribute('aria-label', 'Model');
const scannerLabel = el('span', 'scanner-label');
const newButton = button('new-conversation', 'New', { icon: 'add', secondary: true, title: 'New conversation' });
const configureButton = button('configure-model', 'Configure model', { secondary: true });
configureButton.hidden = true;
header.append(modelSelect, configureButton, scannerLabel, newButton);

const hint = el('div', 'hint');
hint.hidden = true;
const log = el('div', 'conversation');
log.setAttribute('role', 'log');
log.setAttribute('aria-live', 'polite');

const footer = el('footer', 'composer-area');
const chips = el('div', 'attachments');
const composerError = el('div', 'composer-error');
composerError.id = 'composer-error';
composerError.setAttribute('role', 'alert');
composerError.hidden = true;
const composer = el('textarea', 'composer');
composer.id = 'composer';
composer.rows = 3;
composer.placeholder = 'Ask anything. Enter sends, Shift+Enter adds a line. Every message is scanned and recorded.';
const actions = el('div', 'actions');
const attachButton = button('attach', 'Attach', { icon: 'attach', secondary: true, title: 'Attach text files (scanned before they join the prompt)' });
const stopButton = button('stop', 'Stop', { icon: 'debug-stop', secondary: true });
stopButton.hidden = true;
const sendButton = button('send', 'Send', { icon: 'send' });
actions.append(attachButton, stopButton, sendButton);
footer.append(chips, composerError, composer, actions);
app.append(header, hint, log, footer);

// ---- state --------------------------------------------------------------------------------------
const messages = new Map<string, HTMLElement>();
const answers = new Map<string, { element: HTMLElement; received: number; body: HTMLElement }>();
let busy = false;
/** The prompt posted last: the composer keeps it until the extension has taken it. */
let pendingPrompt: string | null = null;
/** Transcript items longer than this (characters or lines) are collapsed, with "Show all". */
const COLLAPSE_CHARS = 1500;
const COLLAPSE_LINES = 24;

function scrollToEnd(): void {
  log.scrollTop = log.scrollHeight;
}

function showComposerError(text: string | null): void {
  composerError.hidden = text === null;
  composerError.textContent = text ?? '';
}

function send(): void {
  const text = composer.value.trim();
  if (text === '' || busy) return;
  if (text.length > MAX_PROMPT_CHARS) {
    showComposerError(
      `This prompt has ${text.length.toLocaleString('en')} characters; a prompt may have up to ${MAX_PROMPT_CHARS.toLocaleString('en')}. It was not sent and stays here: shorten it, or save it to a file and attach the file.`,
    );
    post({ type: 'promptRefused', length: text.length });
    return;
  }
  showComposerError(null);
  pendingPrompt = text;
  post({ type: 'send', text, modelId: modelSelect.value });
  composer.focus();
}

/** Collapses a long transcript item to a few lines, with a button that shows it all (and less again). */
function collapseIfLong(container: HTMLElement, body: HTMLElement, text: string): void {
  container.querySelector(':scope > .show-all')?.remove();
  body.classList.remove('collapsed');
  const lines = text.split('\n').length;
  if (text.length <= COLLAPSE_CHARS && lines <= COLLAPSE_LINES) return;
  body.classList.add('collapsed');
  const toggle = el('button', 'show-all', `Show all (${text.length.toLocaleString('en')} characters, ${lines.toLocaleString('en')} lines)`);
  toggle.addEventListener('click', () => {
    const collapsed = body.classList.toggle('collapsed');
    toggle.textContent = collapsed ? `Show all (${text.length.toLocaleString('en')} characters, ${lines.toLocaleString('en')} lines)` : 'Show less';
  });
  body.after(toggle);
}

const renderActions: RenderActions = {
  onCopy: (text) => post({ type: 'copy', text }),
  onLink: (href) => post({ type: 'openLink', href }),
};

composer.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    send();
  }
});
sendButton.addEventListener('click', send);
stopButton.addEventListener('click', () => post({ type: 'stop' }));
attachButton.addEventListener('click', () => post({ type: 'attach' }));
newButton.addEventListener('click', () => post({ type: 'newConversation' }));
configureButton.addEventListener('click', () => post({ type: 'configureModel' }));
modelSelect.addEventListener('change', () => vscode.setState({ modelId: modelSelect.value }));

function badge(decision: string, text: string): HTMLElement {
  const element = el('span', `badge badge-${decision}`, text);
  element.dataset.decision = decision;
  return element;
}

function renderAnswerText(body: HTMLElement, text: string): void {
  body.replaceChildren(renderMarkdown(parseMarkdown(text), doc, renderActions));
}

// ---- messages from the extension -----------------------------------------------------------------
type Handlers = { [T in ToWebview['type']]: (message: Extract<ToWebview, { type: T }>) => void };

const handlers: Handlers = {
  init: (m) => {
    const saved = (vscode.getState() as { modelId?: string } | undefined)?.modelId;
    modelSelect.replaceChildren(
      ...m.models.map((model) => {
        const option = el('option', undefined, model.label);
        option.value = model.id;
        if (model.detail !== undefined) option.title = model.detail;
        return option;
      }),
    );
    const wanted = m.models.some((model) => model.id === saved) ? saved : m.selectedModelId;
    if (wanted !== null && wanted !== undefined) modelSelect.value = wanted;
    modelSelect.hidden = m.models.length === 0;
    configureButton.hidden = m.models.length > 0;
    hint.hidden = m.noModelHint === null;
    hint.textContent = m.noModelHint ?? '';
    scannerLabel.textContent = m.scannerLabel;
  },
  promptAccepted: () => {
    if (pendingPrompt !== null && composer.value.trim() === pendingPrompt) composer.value = '';
    pendingPrompt = null;
  },
  userMessage: (m) => {
    const item = el('div', 'message user');
    item.dataset.id = m.id;
    const text = el('div', 'text');
    appendVisibleText(text, m.text, doc);
    const meta = el('div', 'meta');
    for (const attachment of m.attachments) {
      const chip = el('span', 'chip');
      chip.append(el('span', 'codicon codicon-file'), doc.createTextNode(' '));
      appendVisibleText(chip, attachment.name, doc);
      meta.append(chip);
    }
    item.append(text, meta);
    collapseIfLong(item, text, m.text);
    log.append(item);
    messages.set(m.id, item);
    scrollToEnd();
  },
  scan: (m) => {
    const item = messages.get(m.messageId) ?? answers.get(m.messageId)?.element;
    if (item === undefined) return;
    item.dataset.decision = m.scan.decision;
    const meta = item.querySelector('.meta') ?? item.appendChild(el('div', 'meta'));
    meta.querySelector('.badge')?.remove();
    const scanners = m.scan.scanners.join(' + ');
    const label = m.scan.categories.length > 0 ? `${m.scan.decision} · ${m.scan.categories.join(', ')}` : m.scan.decision;
    const b = badge(m.scan.decision, `${label} (${scanners})`);
    b.title = m.scan.reason;
    meta.prepend(b);
  },
  audited: (m) => {
    const item = messages.get(m.messageId) ?? answers.get(m.messageId)?.element;
    const meta = item?.querySelector('.meta');
    if (meta === undefined || meta === null) return;
    const seq = el('a', 'audit-seq', `#${m.seq}`);
    seq.title = `Audit entry ${m.seq} (${m.target}): open it in the audit log`;
    seq.tabIndex = 0;
    seq.setAttribute('role', 'link');
    seq.dataset.seq = String(m.seq);
    const open = () => post({ type: 'openAuditEntry', seq: m.seq });
    seq.addEventListener('click', open);
    seq.addEventListener('keydown', (event) => {
      if (event.key === 'Enter') open();
    });
    meta.append(seq);
  },
  blocked: (m) => {
    const item = messages.get(m.messageId);
    if (item === undefined) return;
    item.dataset.decision = 'blocked';
    const reason = el('div', 'blocked-reason');
    reason.append(el('span', 'codicon codicon-shield'), doc.createTextNode(` Not sent: ${m.reason}`));
    item.append(reason);
    scrollToEnd();
  },
  answerStart: (m) => {
    const element = el('div', 'message answer');
    element.dataset.status = 'streaming';
    element.dataset.id = m.id;
    const title = el('div', 'answer-model', m.model);
    const body = el('div', 'text');
    const progress = el('div', 'progress');
    progress.append(doc.createElement('vscode-progress-ring'), el('span', 'progress-text', 'Waiting for the model…'));
    element.append(title, progress, body, el('div', 'meta'));
    log.append(element);
    answers.set(m.id, { element, received: 0, body });
    scrollToEnd();
  },
  answerChunk: (m) => {
    const answer = answers.get(m.id);
    if (answer === undefined) return;
    if (m.hidden) {
      answer.received += 1;
      const text = answer.element.querySelector('.progress-text');
      if (text !== null) text.textContent = `Receiving the answer… it is shown once its scan passes (${answer.received} parts)`;
    } else {
      appendVisibleText(answer.body, m.text, doc);
    }
    scrollToEnd();
  },
  answerEnd: (m) => {
    const answer = answers.get(m.id);
    if (answer === undefined) return;
    answer.element.dataset.status = m.status;
    answer.element.querySelector('.progress')?.remove();
    if (m.status === 'withheld') {
      answer.body.replaceChildren(el('div', 'blocked-reason', `Answer withheld: ${m.reason ?? 'blocked by policy'}`));
    } else if (m.status === 'failed') {
      answer.body.replaceChildren(el('div', 'error-reason', m.reason ?? 'The model failed.'));
    } else {
      renderAnswerText(answer.body, m.text ?? '');
      // Notes go after the text, so that collapsing a long answer never hides them.
      if (m.reason !== undefined) answer.body.after(el('div', 'warning-reason', m.reason));
      if (m.status === 'stopped') answer.body.after(el('div', 'note', 'Stopped.'));
      collapseIfLong(answer.element, answer.body, m.text ?? '');
    }
    scrollToEnd();
  },
  attachments: (m) => {
    chips.replaceChildren(
      ...m.attachments.map((attachment) => {
        const chip = el('span', 'attachment');
        chip.append(el('span', 'codicon codicon-file'), doc.createTextNode(' '));
        appendVisibleText(chip, `${attachment.name} `, doc);
        const remove = el('button', 'remove');
        remove.title = `Remove ${attachment.name}`;
        remove.append(el('span', 'codicon codicon-close'));
        remove.addEventListener('click', () => post({ type: 'removeAttachment', name: attachment.name }));
        chip.append(remove);
        return chip;
      }),
    );
  },
  notice: (m) => {
    const notice = el('div', `notice notice-${m.level}`);
    appendVisibleText(notice, m.text, doc);
    log.append(notice);
    scrollToEnd();
  },
  busy: (m) => {
    busy = m.busy;
    stopButton.hidden = !m.busy;
    sendButton.toggleAttribute('disabled', m.busy);
  },
  cleared: () => {
    log.replaceChildren();
    messages.clear();
    answers.clear();
    chips.replaceChildren();
  },
};

window.addEventListener('message', (event: MessageEvent<unknown>) => {
  const parsed = ToWebview.safeParse(event.data);
  if (!parsed.success) {
    console.error('ignored an invalid message from the extension', parsed.error.issues);
    return;
  }
  const handler = handlers[parsed.data.type] as (message: ToWebview) => void;
  handler(parsed.data);
});

post({ type: 'ready' });
composer.focus();
