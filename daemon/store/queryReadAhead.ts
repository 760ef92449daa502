import type { Entry } from '../protocol/entry.ts';
import type { EntryFilter } from '../protocol/messages.ts';

/** One page of a newest-first query. */
export interface QueryPage {
  entries: Entry[];
  /** The stored line (JSON, without its newline) of each entry, in the same order. */
  lines: string[];
  next_cursor: string | null;
}

/** Pages read ahead and not yet asked for, at most (several clients paging at once each keep theirs). */
const MAX_PAGES = 4;
/** A page read ahead and not asked for within this many ms is dropped (its client stopped paging). */
const MAX_AGE_MS = 30_000;

interface AheadPage {
  /** The segment list the page was read from: retention replaces it, and the page may hold dropped entries. */
  list: unknown;
  startedMs: number;
  page: Promise<QueryPage | null>;
}

/**
 * The next page of queries that are being paged through, read while their client reads the current one.
 * Paging is a round trip per page: without this, the daemon waits while the client parses a page, and the
 * client waits while the daemon reads the next. A client that followed one cursor usually follows the next,
 * so a page asked for by cursor starts the read of the page after it; what it costs when the client stops
 * is one page of reading, once.
 *
 * A page after a cursor depends only on entries before the cursor, which appends never change; retention
 * does (it replaces the segment list), so a page is only handed out for the list it was read from. Each page
 * is handed out once: the caller owns its entries.
 */
export class QueryReadAhead {
  private readonly pages = new Map<string, AheadPage>();

  /** The page read ahead for these arguments, or null: the caller reads it itself. */
  async take(filter: EntryFilter | undefined, limit: number, cursor: string, list: unknown, nowMs: number): Promise<QueryPage | null> {
    const key = keyOf(filter, limit, cursor);
    const ahead = this.pages.get(key);
    if (ahead === undefined) return null;
    this.pages.delete(key);
    if (ahead.list !== list || nowMs - ahead.startedMs > MAX_AGE_MS) return null;
    return ahead.page;
  }

  /** Starts reading the page at `cursor` with `read` (not awaited); a failure only means it is read again when asked for. */
  start(filter: EntryFilter | undefined, limit: number, cursor: string, list: unknown, nowMs: number, read: () => Promise<QueryPage>): void {
    for (const [key, ahead] of this.pages) {
      if (nowMs - ahead.startedMs > MAX_AGE_MS) this.pages.delete(key);
    }
    // Maps iterate in insertion order: the oldest page goes first.
    while (this.pages.size >= MAX_PAGES) {
      const oldest = this.pages.keys().next();
      if (oldest.done === true) break;
      this.pages.delete(oldest.value);
    }
    this.pages.set(keyOf(filter, limit, cursor), { list, startedMs: nowMs, page: read().catch(() => null) });
  }

  /** Forgets every page (retention ran, the store closes). */
  clear(): void {
    this.pages.clear();
  }
}

function keyOf(filter: EntryFilter | undefined, limit: number, cursor: string): string {
  return JSON.stringify([filter ?? null, limit, cursor]);
}
