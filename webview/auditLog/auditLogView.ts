import '@vscode-elements/elements/dist/vscode-progress-ring/index.js';
import type { EntryFilter } from '../../daemon/protocol/messages.ts';
import { AuditLogViewState, FromAuditLog, ToAuditLog } from '../protocol/auditLogMessages.ts';
import type { EntryRow } from '../protocol/entryRow.ts';
import { button } from '../shared/button.ts';
import { ChartsView } from './chartsView.ts';
import { DetailView } from './detailView.ts';
import { el } from '../shared/dom.ts';
import { FilterBar } from './filterBar.ts';
import { emptyForm, fromEntryFilter, toEntryFilter, type FilterForm } from './filterModel.ts';
import { PagingWindow, type PageRequest } from './pagingWindow.ts';
import { TableView } from './tableView.ts';

/**
 * The audit log webview: browser code only. Every message from the extension is validated with the
 * shared schema and dispatched through a table keyed by type; every string from the log is rendered as
 * text. The filter set, live tail switch, tab and column widths are kept in the webview state, which VS
 * Code hands back after a window reload (the extension registers a serializer).
 */

interface VsCodeApi {
  postMessage(message: FromAuditLog): void;
  getState(): unknown;
  setState(state: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

const vscode = acquireVsCodeApi();
/** Rows per query page, and how many pages the window keeps in memory. */
const PAGE_SIZE = 200;
const MAX_PAGES = 25;

function post(message: FromAuditLog): void {
  const parsed = FromAuditLog.safeParse(message);
  if (parsed.success) vscode.postMessage(parsed.data);
  else console.error('not sent: invalid message', parsed.error.issues);
}

const restored = AuditLogViewState.safeParse(vscode.getState());
const state: AuditLogViewState = restored.success ? restored.data : { filter: {}, preset: 'all', tail: false };
let form: FilterForm = restored.success ? fromEntryFilter(state.filter, state.preset) : emptyForm();
let filter: EntryFilter = toEntryFilter(form, Date.now());
/** Bumped on every reset, so that answers to an older filter are dropped. */
let generation = 0;
let nextRequestId = 1;
const pending = new Map<number, { generation: number; request: PageRequest }>();
let statsRequest = -1;
let revealSeq: number | null = null;

function save(): void {
  vscode.setState({ ...state, filter: toEntryFilter(form, Date.now()), preset: form.preset } satisfies AuditLogViewState);
}

// ---- layout -------------------------------------------------------------------------------------
const app = document.getElementById('app') ?? document.body;
const toolbar = el('div', 'toolbar');
const tableTab = button('tab-table', 'Entries', { icon: 'list-flat' });
const chartsTab = button('tab-charts', 'Charts', { icon: 'graph', secondary: true });
const tailLabel = el('label', 'tail-toggle');
const tailBox = el('input');
tailBox.type = 'checkbox';
tailBox.id = 'live-tail';
tailLabel.append(tailBox, document.createTextNode('Live tail'));
const refresh = button('refresh', 'Refresh', { icon: 'refresh', secondary: true });
const verify = button('verify', 'Verify Integrity', { icon: 'shield', secondary: true });
const exportButton = button('export', 'Export…', { icon: 'cloud-upload', secondary: true });
const connection = el('span', 'connection muted');
connection.id = 'connection';
toolbar.append(tableTab, chartsTab, tailLabel, refresh, verify, exportButton, connection);

const banner = el('div', 'banner');
banner.id = 'banner';
banner.hidden = true;
banner.setAttribute('role', 'status');

const rowWindow = new PagingWindow<EntryRow>(PAGE_SIZE, MAX_PAGES);
const table = new TableView(
  rowWindow,
  {
    onRange: (first, last) => requestRows(first, last),
    onOpen: (row) => openDetail(row.seq),
    onColumnsResized: (widths) => {
      state.columns = widths;
      save();
    },
  },
  state.columns,
);
const detail = new DetailView({
  decrypt: (seq) => post({ type: 'decrypt', seq }),
  review: (seq) => post({ type: 'review', seq }),
  copy: (text) => post({ type: 'copy', text }),
  close: () => {
    detail.hide();
    table.focus();
  },
});
const charts = new ChartsView();
const filters = new FilterBar((next) => applyForm(next, true));
const main = el('div', 'main');
main.append(table.element, detail.element);
app.append(toolbar, filters.element, banner, main, charts.element);
filters.set(form);
tailBox.checked = state.tail;

// ---- behaviour ----------------------------------------------------------------------------------
function requestRows(first: number, last: number): void {
  const request = rowWindow.needed(first, last);
  rowWindow.evict(first, last);
  if (request === null) return;
  const requestId = nextRequestId++;
  pending.set(requestId, { generation, request });
  post({ type: 'query', requestId, filter, cursor: request.cursor, limit: PAGE_SIZE });
}

function reset(): void {
  generation++;
  pending.clear();
  rowWindow.reset();
  table.scrollToTop();
  table.setStatus('Loading…');
}

function applyForm(next: FilterForm, byUser: boolean): void {
  form = next;
  filter = toEntryFilter(form, Date.now());
  save();
  reset();
  if (byUser) post({ type: 'filterApplied', filter });
  if (tailBox.checked) post({ type: 'tail', on: true, filter });
  if (!charts.element.hidden) loadStats();
}

function openDetail(seq: number): void {
  table.select(seq);
  detail.loading(seq);
  post({ type: 'detail', seq });
}

function reveal(seq: number): void {
  revealSeq = seq;
  openDetail(seq);
  const index = rowWindow.indexOfSeq(seq);
  if (index >= 0) {
    table.scrollToRow(index);
    revealSeq = null;
  }
}

function showTab(tab: 'table' | 'charts'): void {
  const showCharts = tab === 'charts';
  charts.element.hidden = !showCharts;
  main.hidden = showCharts;
  tableTab.toggleAttribute('secondary', showCharts);
  chartsTab.toggleAttribute('secondary', !showCharts);
  state.tab = tab;
  save();
  if (showCharts) loadStats();
}

function loadStats(): void {
  statsRequest = nextRequestId++;
  charts.loading();
  post({ type: 'stats', requestId: statsRequest, filter });
}

function showBanner(level: 'info' | 'warning' | 'error', text: string, action?: { label: string; run: () => void }): void {
  banner.hidden = false;
  banner.className = `banner notice notice-${level}`;
  const children: Node[] = [el('span', undefined, text)];
  if (action !== undefined) {
    const b = button('banner-action', action.label, { secondary: true });
    b.addEventListener('click', action.run);
    children.push(b);
  }
  const close = button('banner-close', '', { icon: 'close', secondary: true, title: 'Dismiss' });
  close.addEventListener('click', () => (banner.hidden = true));
  children.push(close);
  banner.replaceChildren(...children);
}

tableTab.addEventListener('click', () => showTab('table'));
chartsTab.addEventListener('click', () => showTab('charts'));
refresh.addEventListener('click', () => applyForm(form, false));
tailBox.addEventListener('change', () => {
  state.tail = tailBox.checked;
  save();
  post({ type: 'tail', on: tailBox.checked, filter });
});
verify.addEventListener('click', () => {
  showBanner('info', 'Verifying the hash chain and the signed checkpoints…');
  post({ type: 'verify' });
});
exportButton.addEventListener('click', () => post({ type: 'export', filter }));

// ---- messages from the extension -----------------------------------------------------------------
type Handlers = { [T in ToAuditLog['type']]: (message: Extract<ToAuditLog, { type: T }>) => void };
const handlers: Handlers = {
  init: ({ filter: initial, reveal: seq }) => {
    if (!restored.success && initial !== null) {
      form = fromEntryFilter(initial, 'custom');
      filters.set(form);
    }
    applyForm(form, false);
    if (state.tab === 'charts') showTab('charts');
    if (seq !== null) reveal(seq);
  },
  reveal: ({ seq }) => {
    showTab('table');
    reveal(seq);
  },
  page: ({ requestId, rows, nextCursor }) => {
    const owner = pending.get(requestId);
    pending.delete(requestId);
    if (owner === undefined || owner.generation !== generation) return;
    rowWindow.accept(owner.request, rows, nextCursor);
    table.setStatus(rowWindow.hasMore ? `${rowWindow.rowCount}+ entries` : `${rowWindow.rowCount} entries`);
    if (revealSeq !== null) {
      const index = rowWindow.indexOfSeq(revealSeq);
      if (index >= 0) {
        table.scrollToRow(index);
        revealSeq = null;
      }
    }
    // Drawn with the next frame: pages that arrive together cost one render.
    table.schedule();
  },
  pageFailed: ({ requestId, message }) => {
    const owner = pending.get(requestId);
    pending.delete(requestId);
    if (owner !== undefined && owner.generation === generation) rowWindow.failed(owner.request);
    table.setStatus(message);
  },
  stats: ({ requestId, stats }) => {
    if (requestId === statsRequest) charts.show(stats);
  },
  detail: ({ entry, checkpoint, reviews }) => {
    if (detail.seq === null || detail.seq === entry.seq || detail.element.querySelector('.muted') !== null) detail.show(entry, checkpoint, reviews);
  },
  decrypted: ({ seq, auditSeq, input, output }) => detail.showDecrypted(seq, auditSeq, input, output),
  tailEntries: ({ rows }) => {
    const added = rowWindow.mergeTail(rows);
    if (added < 0) {
      reset();
      return;
    }
    table.shiftBy(added);
    table.setStatus(rowWindow.hasMore ? `${rowWindow.rowCount}+ entries` : `${rowWindow.rowCount} entries`);
  },
  verifyProgress: ({ entriesChecked, lastSeq }) => showBanner('info', `Verifying… ${entriesChecked} entries checked (at #${lastSeq}).`),
  verifyResult: ({ outcome }) => {
    if (outcome.ok) {
      const unsigned = outcome.unsignedTail > 0 ? ` ${outcome.unsignedTail} newest entries are not yet covered by a signed checkpoint.` : '';
      showBanner('info', `Intact: ${outcome.entriesChecked} entries checked${outcome.lastSeq === null ? '' : ` up to #${outcome.lastSeq}`}.${unsigned}`);
      return;
    }
    const where = outcome.brokenSeq === null ? '' : ` at #${outcome.brokenSeq}`;
    const broken = outcome.brokenSeq;
    showBanner('error', `Broken${where}: ${outcome.problem ?? 'unknown problem'}`, broken === null ? undefined : { label: `Go to #${broken}`, run: () => reveal(broken) });
  },
  exportProgress: ({ text }) => showBanner('info', text),
  exportResult: ({ ok, text, objects }) => {
    showBanner(ok ? 'info' : 'error', objects.length === 0 ? text : `${text} ${objects.join(', ')}`);
  },
  connection: ({ connected, text }) => {
    connection.textContent = text;
    connection.classList.toggle('offline', !connected);
  },
  notice: ({ level, text }) => showBanner(level, text),
};

window.addEventListener('message', (event: MessageEvent<unknown>) => {
  const parsed = ToAuditLog.safeParse(event.data);
  if (!parsed.success) {
    console.error('ignored an invalid message', parsed.error.issues[0]);
    return;
  }
  const message = parsed.data;
  (handlers[message.type] as (m: ToAuditLog) => void)(message);
});

post({ type: 'ready' });
