import type { DaemonClient } from '../../daemon/client/daemonClient.ts';

/** The UTC day of a time, as the daemon's `stats.per_day` names days. */
function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/**
 * Today's blocked count as the daemon's `stats` says it, kept current on one connection. The count is
 * never added up locally: every blocked entry that arrives by tail (from this window's outbox, another
 * window or the CLI) triggers a new `stats` read, so that the count equals `stats` at all times — also
 * after a queue of events drains while the subscription is being set up, and after midnight (UTC).
 */
export class BlockedTodayCounter {
  private readonly client: DaemonClient;
  private readonly onCount: (count: number) => void;
  private readonly log: (message: string) => void;
  private readonly now: () => number;
  private readonly disposables: Array<{ dispose(): void }> = [];
  private midnight: NodeJS.Timeout | null = null;
  /** Reads run one at a time; a change during a read asks for one more read after it. */
  private reading: Promise<void> | null = null;
  private again = false;
  private disposed = false;
  private last: number | null = null;

  constructor(options: { client: DaemonClient; onCount: (count: number) => void; log: (message: string) => void; now?: () => number }) {
    this.client = options.client;
    this.onCount = options.onCount;
    this.log = options.log;
    this.now = options.now ?? Date.now;
  }

  /** The last count read, or null before the first read. */
  get count(): number | null {
    return this.last;
  }

  /** Subscribes first, then reads: an entry committed in between triggers a read of its own. */
  async start(): Promise<void> {
    this.disposables.push(
      this.client.on('tail.entries', ({ entries }) => {
        if (entries.some((e) => e.decision === 'blocked')) void this.refresh();
      }),
    );
    await this.client.request('tail.subscribe', { filter: { decision: 'blocked' } });
    await this.refresh();
  }

  /** Reads today's count from `stats` (coalescing concurrent requests) and reports it. */
  refresh(): Promise<void> {
    if (this.reading !== null) {
      this.again = true;
      return this.reading;
    }
    this.reading = (async () => {
      do {
        this.again = false;
        await this.read();
      } while (this.again && !this.disposed);
    })().finally(() => {
      this.reading = null;
    });
    return this.reading;
  }

  private async read(): Promise<void> {
    if (this.disposed || this.client.closed) return;
    const today = utcDay(this.now());
    try {
      const stats = await this.client.request('stats', { filter: { since: `${today}T00:00:00.000Z`, decision: 'blocked' } });
      if (this.disposed) return;
      this.last = stats.per_day.find((d) => d.day === today)?.blocked ?? 0;
      this.onCount(this.last);
    } catch (error: unknown) {
      if (!this.client.closed) this.log(`status bar: cannot read today's blocked count (${error instanceof Error ? error.message : String(error)})`);
    }
    this.armMidnight();
  }

  /** At the next UTC midnight the count starts again from what `stats` says for the new day. */
  private armMidnight(): void {
    if (this.midnight !== null || this.disposed) return;
    const now = this.now();
    const next = Date.parse(`${utcDay(now)}T00:00:00.000Z`) + 86_400_000;
    this.midnight = setTimeout(() => {
      this.midnight = null;
      void this.refresh();
    }, next - now + 1000);
    this.midnight.unref();
  }

  dispose(): void {
    this.disposed = true;
    if (this.midnight !== null) clearTimeout(this.midnight);
    for (const d of this.disposables.splice(0).reverse()) d.dispose();
  }
}
