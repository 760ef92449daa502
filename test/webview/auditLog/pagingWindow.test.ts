import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MAX_HEAD_ROWS, PagingWindow } from '../../../webview/auditLog/pagingWindow.ts';
import type { Entry } from '../../../daemon/protocol/entry.ts';
import { descending, entry } from './entryFixtures.ts';

/** A store of `total` entries (seq 1..total) paged newest first, with cursors as the daemon gives them. */
function fakeStore(total: number) {
  return (cursor: string | null, limit: number) => {
    const top = cursor === null ? total : Number(cursor);
    const bottom = Math.max(1, top - limit + 1);
    const entries = top < 1 ? [] : descending(top, bottom);
    return { entries, next: bottom > 1 ? String(bottom - 1) : null };
  };
}

/** Scrolls the window over rows first..last, serving every fetch it asks for, like the view does. */
function scroll(window: PagingWindow<Entry>, store: ReturnType<typeof fakeStore>, first: number, last: number): number {
  let fetches = 0;
  for (;;) {
    const request = window.needed(first, last);
    window.evict(first, last);
    if (request === null) return fetches;
    const page = store(request.cursor, window.pageSize);
    assert.equal(window.accept(request, page.entries, page.next), true);
    fetches++;
  }
}

describe('PagingWindow', () => {
  test('pages newest first, and the row count grows as the user scrolls', () => {
    const w = new PagingWindow<Entry>(10, 3);
    const store = fakeStore(95);
    scroll(w, store, 0, 5);
    assert.equal(w.rowAt(0)?.seq, 95);
    assert.equal(w.rowAt(9)?.seq, 86);
    assert.equal(w.hasMore, true);
    scroll(w, store, 0, 9);
    scroll(w, store, 80, 94);
    assert.equal(w.rowAt(94)?.seq, 1);
    assert.equal(w.rowCount, 95);
    assert.equal(w.hasMore, false);
  });

  test('keeps at most maxPages pages in memory and refetches an evicted page with its own cursor', () => {
    const w = new PagingWindow<Entry>(10, 3);
    const store = fakeStore(1000);
    for (let first = 0; first < 500; first += 5) scroll(w, store, first, first + 8);
    assert.ok(w.loadedPages <= 3, `loaded ${w.loadedPages}`);
    assert.equal(w.rowAt(0), undefined, 'the top page was evicted');
    const fetches = scroll(w, store, 0, 8);
    assert.equal(fetches, 1);
    assert.equal(w.rowAt(0)?.seq, 1000);
    assert.equal(w.rowAt(8)?.seq, 992);
  });

  test('asks for nothing while a fetch is running, and retries after a failure', () => {
    const w = new PagingWindow<Entry>(10, 3);
    const first = w.needed(0, 5);
    assert.ok(first !== null);
    assert.equal(w.needed(0, 5), null);
    w.failed(first);
    assert.deepEqual(w.needed(0, 5), first);
  });

  test('drops answers that belong to a window that was reset', () => {
    const w = new PagingWindow<Entry>(10, 3);
    const request = w.needed(0, 5);
    assert.ok(request !== null);
    w.reset();
    assert.equal(w.accept(request, descending(10, 1), null), false);
    assert.equal(w.rowCount, 0);
  });

  test('tail merge: newer entries go on top, newest first, without duplicates, and report the shift', () => {
    const w = new PagingWindow<Entry>(10, 3);
    scroll(w, fakeStore(50), 0, 5);
    assert.equal(w.mergeTail([entry(52), entry(51), entry(50), entry(52)]), 2);
    assert.deepEqual([0, 1, 2].map((i) => w.rowAt(i)?.seq), [52, 51, 50]);
    assert.equal(w.indexOfSeq(45), 7, 'rows below moved down by the number of inserted rows');
    assert.equal(w.mergeTail([entry(49), entry(51)]), 0, 'old or known entries are not inserted');
    assert.equal(w.mergeTail([entry(53)]), 1);
    assert.equal(w.rowAt(0)?.seq, 53);
  });

  test('tail entries that arrive before the first page are not shown twice', () => {
    const w = new PagingWindow<Entry>(10, 3);
    const request = w.needed(0, 5);
    assert.ok(request !== null);
    assert.equal(w.mergeTail([entry(51), entry(50)]), 2);
    const page = fakeStore(50)(null, 10);
    w.accept(request, page.entries, page.next);
    assert.deepEqual([0, 1, 2].map((i) => w.rowAt(i)?.seq), [51, 50, 49]);
  });

  test('a full head asks for a reset instead of growing without bound', () => {
    const w = new PagingWindow<Entry>(10, 3);
    scroll(w, fakeStore(1), 0, 5);
    const many = descending(MAX_HEAD_ROWS + 1, 2);
    assert.equal(w.mergeTail(many.slice(0, MAX_HEAD_ROWS)), MAX_HEAD_ROWS);
    assert.equal(w.mergeTail([entry(MAX_HEAD_ROWS + 5)]), -1);
  });
});
