import type { EntryRow } from '../protocol/entryRow.ts';
import { el } from '../shared/dom.ts';
import { cell, Columns, type Column } from './entryFormat.ts';
import type { PagingWindow } from './pagingWindow.ts';

/** Height of one row in pixels (fixed: the scroll height is rows × this). */
export const ROW_HEIGHT = 24;
/** Rows rendered above and below the visible ones. */
const OVERSCAN = 10;
/**
 * Most rows filled in one frame. A jump of a whole screen (Page Down, a dragged scroll bar) fills the
 * screen over a few frames instead of in one long one: each frame's layout and paint stay small, also on
 * a busy machine.
 */
const ROWS_PER_FRAME = 8;
const MIN_COLUMN = 40;
/** How long after the last scroll event rows take the pointer again (ms). */
const SCROLL_SETTLE_MS = 150;

export interface TableCallbacks {
  /** The window needs rows `first..last` (visible range): fetch what is missing. */
  onRange(first: number, last: number): void;
  /** A row was opened (click or Enter). */
  onOpen(row: EntryRow): void;
  onColumnsResized(widths: Record<string, number>): void;
}

/**
 * The virtualized table: a fixed pool of plain row elements positioned over a spacer as tall as all
 * known rows, so that the DOM holds only the visible rows (and a small overscan) whatever the size of
 * the store. Row `i` lives in pool slot `(i + base) % pool size`, so a scroll rewrites only the rows that
 * came into view (and rows inserted above by the live tail only move); rendering happens once per
 * animation frame with a budget of rows, and nothing is measured per row (fixed row height). Selection follows the entry (its seq), not the row index, so rows inserted above by the
 * live tail do not move it.
 */
export class TableView {
  readonly element = el('div', 'table');
  private readonly header = el('div', 'table-header');
  private readonly viewport = el('div', 'table-viewport');
  private readonly spacer = el('div', 'table-spacer');
  private readonly status = el('div', 'table-status');
  private readonly pool: HTMLElement[] = [];
  private readonly window: PagingWindow<EntryRow>;
  private spacerHeight = -1;
  private readonly callbacks: TableCallbacks;
  private widths: Record<string, number> = {};
  private selectedSeq: number | null = null;
  private scheduled = false;
  private settle: ReturnType<typeof setTimeout> | undefined;
  /** Row `i` lives in slot `(i + slotBase) % pool size`; rows inserted above shift it, not the slots' content. */
  private slotBase = 0;
  /** The viewport's height, from a ResizeObserver: reading it in a frame would force a layout. */
  private viewportHeight = 0;

  constructor(window: PagingWindow<EntryRow>, callbacks: TableCallbacks, widths: Record<string, number> | undefined) {
    this.window = window;
    this.callbacks = callbacks;
    this.element.setAttribute('role', 'grid');
    this.element.setAttribute('aria-label', 'Audit log entries, newest first');
    this.viewport.tabIndex = 0;
    this.viewport.id = 'audit-table';
    this.header.setAttribute('role', 'row');
    for (const column of Columns) {
      this.widths[column.id] = widths?.[column.id] ?? column.width;
      const head = el('div', `cell col-${column.id}`, column.label);
      head.setAttribute('role', 'columnheader');
      const grip = el('div', 'grip');
      grip.title = 'Drag to resize';
      grip.addEventListener('pointerdown', (event) => this.resize(event, column.id, grip));
      head.append(grip);
      this.header.append(head);
    }
    this.applyWidths();
    this.viewport.append(this.spacer);
    this.element.append(this.header, this.viewport, this.status);
    this.viewport.addEventListener('scroll', () => {
      // The header scrolls sideways with the rows.
      this.header.scrollLeft = this.viewport.scrollLeft;
      // While scrolling, rows ignore the pointer: no hit test and hover restyle of the row that moved under
      // it on every frame (the browser sends a mouse move after each scroll).
      // (On the spacer: pointer-events is inherited, and the browser passes such a change down cheaply.)
      if (this.settle === undefined) this.spacer.classList.add('scrolling');
      else clearTimeout(this.settle);
      this.settle = setTimeout(() => {
        this.settle = undefined;
        this.spacer.classList.remove('scrolling');
      }, SCROLL_SETTLE_MS);
      this.schedule();
    });
    this.viewport.addEventListener('keydown', (event) => this.key(event));
    this.viewport.addEventListener('click', (event) => {
      const row = (event.target as Element).closest<HTMLElement>('.row');
      const index = Number(row?.dataset.index);
      const entry = Number.isInteger(index) ? this.window.rowAt(index) : undefined;
      if (entry === undefined) return;
      this.select(entry.seq);
      this.callbacks.onOpen(entry);
    });
    // Tooltips with the full cell text, set when a cell is pointed at rather than for every cell drawn.
    this.viewport.addEventListener('pointerover', (event) => {
      const target = event.target as HTMLElement;
      if (target.classList.contains('cell') && target.title !== target.textContent) target.title = target.textContent;
    });
    new ResizeObserver((entries) => {
      this.viewportHeight = entries[0]?.contentRect.height ?? this.viewport.clientHeight;
      this.schedule();
    }).observe(this.viewport);
  }

  get selected(): number | null {
    return this.selectedSeq;
  }

  get scrollTop(): number {
    return this.viewport.scrollTop;
  }

  focus(): void {
    this.viewport.focus();
  }

  select(seq: number | null): void {
    this.selectedSeq = seq;
    this.render();
  }

  /** Rows were inserted above row 0: keep the rows on screen where they are. */
  shiftBy(rows: number): void {
    if (rows <= 0) return;
    this.setSpacerHeight();
    if (this.viewport.scrollTop > 0 || this.selectedSeq !== null) this.viewport.scrollTop += rows * ROW_HEIGHT;
    // Every row moved down by `rows`: each slot keeps its entry and only moves.
    for (const row of this.pool) {
      if (row.dataset.index === undefined) continue;
      const index = Number(row.dataset.index) + rows;
      row.dataset.index = String(index);
      row.style.transform = `translateY(${index * ROW_HEIGHT}px)`;
      row.setAttribute('aria-rowindex', String(index + 1));
    }
    if (this.pool.length > 0) this.slotBase = (((this.slotBase - rows) % this.pool.length) + this.pool.length) % this.pool.length;
    this.render();
  }

  scrollToRow(index: number): void {
    const top = index * ROW_HEIGHT;
    const height = this.viewport.clientHeight;
    if (top < this.viewport.scrollTop) this.viewport.scrollTop = top;
    else if (top + ROW_HEIGHT > this.viewport.scrollTop + height) this.viewport.scrollTop = top + ROW_HEIGHT - height;
    this.render();
  }

  scrollToTop(): void {
    this.viewport.scrollTop = 0;
    this.render();
  }

  setStatus(text: string): void {
    this.status.textContent = text;
  }

  /** Renders on the next frame (scroll events come faster than frames). */
  schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    requestAnimationFrame(() => {
      this.scheduled = false;
      this.render();
    });
  }

  private totalHeight(): number {
    return (this.window.rowCount + (this.window.hasMore ? 1 : 0)) * ROW_HEIGHT;
  }

  private visibleRange(): { first: number; last: number } {
    const first = Math.floor(this.viewport.scrollTop / ROW_HEIGHT);
    const count = Math.ceil(Math.max(this.viewportHeight, ROW_HEIGHT) / ROW_HEIGHT);
    return { first, last: first + count };
  }

  private setSpacerHeight(): void {
    const height = this.totalHeight();
    if (height === this.spacerHeight) return;
    this.spacerHeight = height;
    this.spacer.style.height = `${height}px`;
  }

  render(): void {
    // Read before writing: a read after a write would force the browser to lay out in the middle of the frame.
    const { first, last } = this.visibleRange();
    this.setSpacerHeight();
    this.callbacks.onRange(first, last);
    const count = this.window.rowCount + (this.window.hasMore ? 1 : 0);
    const from = Math.max(0, first - OVERSCAN);
    const to = Math.min(count, last + OVERSCAN);
    const needed = Math.max(0, to - from);
    if (this.pool.length < needed) {
      // A taller viewport: more slots, and every row to its new slot.
      while (this.pool.length < needed) this.pool.push(this.newRow());
      for (const row of this.pool) this.clear(row);
      this.slotBase = 0;
    }
    // Slots not holding a row of from..to go empty (no stale key for a query to find).
    for (const row of this.pool) {
      const index = Number(row.dataset.index);
      if (!(index >= from && index < to) && row.dataset.index !== undefined) this.clear(row);
    }
    // The rows on screen first, top to bottom, then the overscan below and above; at most
    // ROWS_PER_FRAME rows change per frame, the rest follow in the next frames.
    let budget = ROWS_PER_FRAME;
    const visit = (index: number): void => {
      if (this.place(index, budget > 0)) budget--;
    };
    const visibleEnd = Math.min(to, last + 1);
    for (let index = first; index < visibleEnd; index++) visit(index);
    for (let index = visibleEnd; index < to; index++) visit(index);
    for (let index = Math.min(first, to) - 1; index >= from; index--) visit(index);
    if (budget <= 0) this.schedule();
  }

  /**
   * Shows row `index` in its slot. A slot already showing it only follows the selection (free); otherwise,
   * with `mayFill`, it is filled and counts against the frame's budget (returns true); without, it is
   * emptied and hidden until a later frame fills it.
   */
  private place(index: number, mayFill: boolean): boolean {
    const row = this.pool[(index + this.slotBase) % this.pool.length];
    if (row === undefined) return false;
    const entry = this.window.rowAt(index);
    const key = entry === undefined ? 'loading' : String(entry.seq);
    const position = String(index);
    if (row.dataset.index === position && row.dataset.key === key) {
      this.markSelected(row, entry);
      return false;
    }
    if (!mayFill) {
      this.clear(row);
      return false;
    }
    if (row.dataset.index !== position) {
      row.dataset.index = position;
      row.style.transform = `translateY(${index * ROW_HEIGHT}px)`;
      row.setAttribute('aria-rowindex', String(index + 1));
    }
    this.fill(row, entry, key);
    if (row.hidden) row.hidden = false;
    return true;
  }

  private clear(row: HTMLElement): void {
    if (!row.hidden) row.hidden = true;
    delete row.dataset.index;
    delete row.dataset.key;
  }

  private newRow(): HTMLElement {
    const row = el('div', 'row');
    row.setAttribute('role', 'row');
    row.setAttribute('aria-selected', 'false');
    row.hidden = true;
    for (const column of Columns) {
      const c = el('div', `cell col-${column.id}`);
      c.setAttribute('role', 'gridcell');
      row.append(c);
    }
    this.spacer.append(row);
    return row;
  }

  private markSelected(row: HTMLElement, entry: EntryRow | undefined): void {
    const selected = entry !== undefined && entry.seq === this.selectedSeq;
    if (row.classList.contains('selected') === selected) return;
    row.classList.toggle('selected', selected);
    row.setAttribute('aria-selected', String(selected));
  }

  private fill(row: HTMLElement, entry: EntryRow | undefined, key: string): void {
    this.markSelected(row, entry);
    row.dataset.key = key;
    row.dataset.decision = entry?.decision ?? '';
    const cells = row.children;
    Columns.forEach((column, i) => {
      const c = cells[i] as HTMLElement | undefined;
      if (c === undefined) return;
      c.textContent = entry === undefined ? (i === 0 ? 'Loading…' : '') : cell(entry, column.id);
      if (c.title !== '') c.title = '';
    });
  }

  private key(event: KeyboardEvent): void {
    const page = Math.max(1, Math.floor(this.viewport.clientHeight / ROW_HEIGHT) - 1);
    const current = this.selectedSeq === null ? -1 : this.window.indexOfSeq(this.selectedSeq);
    const last = Math.max(0, this.window.rowCount - 1);
    let next: number;
    switch (event.key) {
      case 'ArrowDown':
        next = Math.min(last, current + 1);
        break;
      case 'ArrowUp':
        next = Math.max(0, current - 1);
        break;
      case 'PageDown':
        next = Math.min(last, Math.max(0, current) + page);
        break;
      case 'PageUp':
        next = Math.max(0, current - page);
        break;
      case 'Home':
        next = 0;
        break;
      case 'End':
        next = last;
        break;
      case 'Enter': {
        const entry = current >= 0 ? this.window.rowAt(current) : undefined;
        if (entry !== undefined) this.callbacks.onOpen(entry);
        event.preventDefault();
        return;
      }
      default:
        return;
    }
    event.preventDefault();
    const entry = this.window.rowAt(next);
    this.scrollToRow(next);
    if (entry !== undefined) this.select(entry.seq);
  }

  private applyWidths(): void {
    let total = 0;
    for (const column of Columns) {
      const width = this.widths[column.id] ?? column.width;
      total += width;
      this.element.style.setProperty(`--col-${column.id}`, `${width}px`);
    }
    // Rows have a fixed size (contain: strict): a row's text never makes the browser lay out anything else.
    this.element.style.setProperty('--row-width', `${total}px`);
  }

  private resize(event: PointerEvent, column: Column, grip: HTMLElement): void {
    event.preventDefault();
    event.stopPropagation();
    const startX = event.clientX;
    const startWidth = this.widths[column] ?? MIN_COLUMN;
    grip.setPointerCapture(event.pointerId);
    const move = (e: PointerEvent) => {
      this.widths[column] = Math.max(MIN_COLUMN, Math.min(2000, startWidth + e.clientX - startX));
      this.applyWidths();
    };
    const up = () => {
      grip.removeEventListener('pointermove', move);
      grip.removeEventListener('pointerup', up);
      this.callbacks.onColumnsResized({ ...this.widths });
    };
    grip.addEventListener('pointermove', move);
    grip.addEventListener('pointerup', up);
  }
}
