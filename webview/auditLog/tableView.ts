import type { Entry } from '../../daemon/protocol/entry.ts';
import { el } from './dom.ts';
import { cell, Columns, type Column } from './entryFormat.ts';
import type { PagingWindow } from './pagingWindow.ts';

/** Height of one row in pixels (fixed: the scroll height is rows × this). */
export const ROW_HEIGHT = 24;
/** Rows rendered above and below the visible ones. */
const OVERSCAN = 10;
const MIN_COLUMN = 40;

export interface TableCallbacks {
  /** The window needs rows `first..last` (visible range): fetch what is missing. */
  onRange(first: number, last: number): void;
  /** A row was opened (click or Enter). */
  onOpen(entry: Entry): void;
  onColumnsResized(widths: Record<string, number>): void;
}

/**
 * The virtualized table: a fixed pool of row elements positioned over a spacer as tall as all known
 * rows, so that the DOM holds only the visible rows whatever the size of the store. Selection follows
 * the entry (its seq), not the row index, so rows inserted above by the live tail do not move it.
 */
export class TableView {
  readonly element = el('div', 'table');
  private readonly header = el('div', 'table-header');
  private readonly viewport = el('div', 'table-viewport');
  private readonly spacer = el('div', 'table-spacer');
  private readonly status = el('div', 'table-status');
  private readonly pool: HTMLElement[] = [];
  private readonly window: PagingWindow;
  private readonly callbacks: TableCallbacks;
  private widths: Record<string, number> = {};
  private selectedSeq: number | null = null;
  private scheduled = false;

  constructor(window: PagingWindow, callbacks: TableCallbacks, widths: Record<string, number> | undefined) {
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
    new ResizeObserver(() => this.schedule()).observe(this.viewport);
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
    this.spacer.style.height = `${this.totalHeight()}px`;
    if (this.viewport.scrollTop > 0 || this.selectedSeq !== null) this.viewport.scrollTop += rows * ROW_HEIGHT;
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
    const count = Math.ceil(Math.max(this.viewport.clientHeight, ROW_HEIGHT) / ROW_HEIGHT);
    return { first, last: first + count };
  }

  render(): void {
    this.spacer.style.height = `${this.totalHeight()}px`;
    const { first, last } = this.visibleRange();
    this.callbacks.onRange(first, last);
    const from = Math.max(0, first - OVERSCAN);
    const to = Math.min(this.window.rowCount + (this.window.hasMore ? 1 : 0), last + OVERSCAN);
    const needed = Math.max(0, to - from);
    while (this.pool.length < needed) {
      const row = el('div', 'row');
      row.setAttribute('role', 'row');
      for (const column of Columns) {
        const c = el('div', `cell col-${column.id}`);
        c.setAttribute('role', 'gridcell');
        row.append(c);
      }
      this.pool.push(row);
      this.spacer.append(row);
    }
    for (let i = 0; i < this.pool.length; i++) {
      const row = this.pool[i];
      if (row === undefined) continue;
      const index = from + i;
      if (i >= needed) {
        row.hidden = true;
        continue;
      }
      row.hidden = false;
      row.style.transform = `translateY(${index * ROW_HEIGHT}px)`;
      row.dataset.index = String(index);
      row.setAttribute('aria-rowindex', String(index + 1));
      const entry = this.window.rowAt(index);
      this.fill(row, entry);
    }
  }

  private fill(row: HTMLElement, entry: Entry | undefined): void {
    const key = entry === undefined ? 'loading' : `${entry.seq}`;
    const selected = entry !== undefined && entry.seq === this.selectedSeq;
    row.classList.toggle('selected', selected);
    row.setAttribute('aria-selected', String(selected));
    if (row.dataset.key === key) return;
    row.dataset.key = key;
    row.dataset.decision = entry?.decision ?? '';
    const cells = row.children;
    Columns.forEach((column, i) => {
      const c = cells[i] as HTMLElement | undefined;
      if (c === undefined) return;
      const text = entry === undefined ? (i === 0 ? 'Loading…' : '') : cell(entry, column.id);
      c.textContent = text;
      c.title = text;
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
    for (const column of Columns) this.element.style.setProperty(`--col-${column.id}`, `${this.widths[column.id] ?? column.width}px`);
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
