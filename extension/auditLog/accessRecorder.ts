import type { EntryFilter, ParamsOf } from '../../daemon/protocol/messages.ts';
import { MAX_ACCESS_ITEMS } from '../../daemon/protocol/messages.ts';

export type AccessBatch = ParamsOf<'access.record'>;

export interface AccessRecorderOptions {
  viewer: string;
  /** Sends one batch (the daemon's `access.record`); a rejection keeps the batch for the next try. */
  send: (batch: AccessBatch) => Promise<void>;
  /** One batch per this many milliseconds of activity (default one minute). */
  batchMs?: number;
  log: (message: string) => void;
  now?: () => number;
}

/**
 * Records who looked at what in the viewer, as `audit.access` entries: opening the viewer, each filter
 * set applied and each entry whose detail was opened. Activity is batched: the first item starts a
 * one-minute window, and the window's items become one entry, so browsing does not flood the trail.
 * A batch the daemon could not take is kept (bounded) and merged into the next one.
 */
export class AccessRecorder {
  private readonly options: AccessRecorderOptions;
  private readonly now: () => number;
  private opened = 0;
  private filters: EntryFilter[] = [];
  private entries: number[] = [];
  private since: number | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private sending: Promise<void> = Promise.resolve();
  private disposed = false;

  constructor(options: AccessRecorderOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
  }

  get pendingItems(): number {
    return this.opened + this.filters.length + this.entries.length;
  }

  viewerOpened(): void {
    this.opened = Math.min(MAX_ACCESS_ITEMS, this.opened + 1);
    this.touch();
  }

  filterApplied(filter: EntryFilter): void {
    const key = JSON.stringify(filter);
    if (!this.filters.some((f) => JSON.stringify(f) === key)) this.filters.push(filter);
    if (this.filters.length > MAX_ACCESS_ITEMS) this.filters.shift();
    this.touch();
  }

  entryOpened(seq: number): void {
    if (!this.entries.includes(seq)) this.entries.push(seq);
    if (this.entries.length > MAX_ACCESS_ITEMS) this.entries.shift();
    this.touch();
  }

  private touch(): void {
    this.since ??= this.now();
    if (this.timer !== null || this.disposed) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.flush();
    }, this.options.batchMs ?? 60_000);
  }

  /** Sends what has accumulated now (also on dispose). */
  flush(): Promise<void> {
    this.sending = this.sending.then(() => this.sendNow());
    return this.sending;
  }

  private async sendNow(): Promise<void> {
    if (this.pendingItems === 0 || this.since === null) return;
    const batch: AccessBatch = {
      viewer: this.options.viewer,
      since: new Date(this.since).toISOString(),
      until: new Date(this.now()).toISOString(),
      opened: this.opened,
      filters: this.filters,
      entries: this.entries,
    };
    this.opened = 0;
    this.filters = [];
    this.entries = [];
    this.since = null;
    try {
      await this.options.send(batch);
    } catch (error: unknown) {
      this.options.log(`audit log: access record not written yet (${error instanceof Error ? error.message : String(error)}); kept for the next batch`);
      this.opened = Math.min(MAX_ACCESS_ITEMS, this.opened + batch.opened);
      this.filters = [...batch.filters, ...this.filters].slice(-MAX_ACCESS_ITEMS);
      this.entries = [...new Set([...batch.entries, ...this.entries])].slice(-MAX_ACCESS_ITEMS);
      this.since = Date.parse(batch.since);
      this.touch();
    }
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    await this.flush().catch(() => undefined);
  }
}
