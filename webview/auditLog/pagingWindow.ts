/**
 * The rows of the table, newest first, as a bounded window over the daemon's cursor paging.
 *
 * Rows are a `head` of live-tail entries (newer than anything queried) followed by query pages. Each
 * page remembers the cursor that fetched it, so a page evicted to keep memory bounded can be fetched
 * again with the same cursor when the user scrolls back to it (cursors point at byte offsets of
 * committed segments: new entries do not move them). Only `maxPages` pages hold entries at any time.
 */

interface Page<R> {
  /** The cursor that fetched this page (null: the newest page). */
  cursor: string | null;
  entries: R[] | null;
  /** Rows in the page, kept after eviction so row indexes stay stable. */
  length: number;
  loading: boolean;
}

export interface PageRequest {
  pageIndex: number;
  cursor: string | null;
}

/** Most live-tail rows kept above the first page before the window asks to be reset. */
export const MAX_HEAD_ROWS = 10_000;

export class PagingWindow<R extends { readonly seq: number }> {
  readonly pageSize: number;
  readonly maxPages: number;
  private head: R[] = [];
  private pages: Array<Page<R>> = [];
  /** The cursor of the page after the last one (null: no more rows). */
  private nextCursor: string | null = null;
  private started = false;
  private highestSeq = 0;

  constructor(pageSize: number, maxPages: number) {
    if (pageSize < 1 || maxPages < 2) throw new RangeError('pageSize ≥ 1 and maxPages ≥ 2');
    this.pageSize = pageSize;
    this.maxPages = maxPages;
  }

  /** Rows known so far (loaded or evicted); grows as the user scrolls down. */
  get rowCount(): number {
    return this.head.length + this.pages.reduce((n, p) => n + p.length, 0);
  }

  /** Whether older rows than the known ones may exist. */
  get hasMore(): boolean {
    return !this.started || this.nextCursor !== null;
  }

  get loadedPages(): number {
    return this.pages.filter((p) => p.entries !== null).length;
  }

  get headRows(): number {
    return this.head.length;
  }

  reset(): void {
    this.head = [];
    this.pages = [];
    this.nextCursor = null;
    this.started = false;
    this.highestSeq = 0;
  }

  /** The entry of row `index`, or undefined while its page is not loaded. */
  rowAt(index: number): R | undefined {
    if (index < 0) return undefined;
    if (index < this.head.length) return this.head[index];
    let offset = index - this.head.length;
    for (const page of this.pages) {
      if (offset < page.length) return page.entries?.[offset];
      offset -= page.length;
    }
    return undefined;
  }

  /** The row index of a loaded entry, or -1. */
  indexOfSeq(seq: number): number {
    const h = this.head.findIndex((e) => e.seq === seq);
    if (h >= 0) return h;
    let base = this.head.length;
    for (const page of this.pages) {
      const i = page.entries?.findIndex((e) => e.seq === seq) ?? -1;
      if (i >= 0) return base + i;
      base += page.length;
    }
    return -1;
  }

  /**
   * The page to fetch so that rows `first..last` can be shown (plus the next page when `last` is close
   * to the end of the known rows), or null when nothing is missing or a fetch is already running.
   */
  needed(first: number, last: number): PageRequest | null {
    if (!this.started) {
      if (this.pages.length === 0) this.pages.push({ cursor: null, entries: null, length: 0, loading: false });
      this.started = true;
      this.nextCursor = null;
    }
    let base = this.head.length;
    for (let i = 0; i < this.pages.length; i++) {
      const page = this.pages[i];
      if (page === undefined) break;
      const end = base + page.length;
      const touches = (page.length === 0 && last >= base) || (first < end && last >= base);
      if (touches && page.entries === null) {
        if (page.loading) return null;
        page.loading = true;
        return { pageIndex: i, cursor: page.cursor };
      }
      base = end;
    }
    if (this.nextCursor !== null && last >= base - this.pageSize) {
      if (this.pages.at(-1)?.loading === true) return null;
      const page: Page<R> = { cursor: this.nextCursor, entries: null, length: 0, loading: true };
      this.pages.push(page);
      this.nextCursor = null;
      return { pageIndex: this.pages.length - 1, cursor: page.cursor };
    }
    return null;
  }

  /** Stores a fetched page. Returns false when the page no longer belongs to this window (after a reset). */
  accept(request: PageRequest, entries: readonly R[], next: string | null): boolean {
    const page = this.pages[request.pageIndex];
    if (page?.cursor !== request.cursor || !page.loading) return false;
    page.loading = false;
    page.entries = [...entries];
    if (page.length === 0) page.length = entries.length;
    // A refetched page may have lost rows to retention; keep indexes stable by padding with what is known.
    page.length = Math.max(page.length, entries.length);
    if (request.pageIndex === this.pages.length - 1 && next !== null) this.nextCursor = next;
    const top = entries[0]?.seq ?? 0;
    if (request.pageIndex === 0) {
      // Tail entries that arrived before the first page are in it too.
      this.head = this.head.filter((e) => e.seq > top);
      if (top > this.highestSeq) this.highestSeq = top;
    }
    return true;
  }

  /** Marks a fetch as failed so that it may be retried. */
  failed(request: PageRequest): void {
    const page = this.pages[request.pageIndex];
    if (page !== undefined && page.cursor === request.cursor) page.loading = false;
  }

  /** Drops the entries of pages farthest from rows `first..last` until at most `maxPages` hold entries. */
  evict(first: number, last: number): void {
    const middle = (first + last) / 2;
    const loaded: Array<{ page: Page<R>; distance: number }> = [];
    let base = this.head.length;
    for (const page of this.pages) {
      if (page.entries !== null) loaded.push({ page, distance: Math.abs(base + page.length / 2 - middle) });
      base += page.length;
    }
    if (loaded.length <= this.maxPages) return;
    loaded.sort((a, b) => b.distance - a.distance);
    for (const { page } of loaded.slice(0, loaded.length - this.maxPages)) page.entries = null;
  }

  /**
   * Merges live-tail entries: only entries newer than every row known are added, newest first, without
   * duplicates. Returns how many rows were inserted above row 0 (the view shifts its scroll position by
   * as many rows, so the row under the cursor does not move), or -1 when the head is full and the window
   * should be reset.
   */
  mergeTail(entries: readonly R[]): number {
    const fresh = entries.filter((e) => e.seq > this.highestSeq);
    if (fresh.length === 0) return 0;
    const bySeq = new Map<number, R>();
    for (const e of fresh) bySeq.set(e.seq, e);
    const sorted = [...bySeq.values()].sort((a, b) => b.seq - a.seq);
    if (this.head.length + sorted.length > MAX_HEAD_ROWS) return -1;
    this.head = [...sorted, ...this.head];
    this.highestSeq = sorted[0]?.seq ?? this.highestSeq;
    return sorted.length;
  }
}
