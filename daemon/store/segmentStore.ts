import { mkdir, open, readFile, rename, rm, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Entry } from '../protocol/entry.ts';
import { listSegments, segmentFile, summaryFileOf } from './segmentPaths.ts';
import { readLinesForward } from './segmentReader.ts';
import { addToSummary, emptySummary, type SegmentSummary } from './segmentSummary.ts';

/** Default size at which a segment is closed and the next one opened (bytes). */
export const DEFAULT_SEGMENT_MAX_BYTES = 32 * 1024 * 1024;
/** Where the bytes of a torn last line are kept when the store is repaired on start. */
export const TORN_DIR = 'torn';

export interface SegmentStoreOptions {
  home: string;
  segmentMaxBytes?: number;
  /** Told about repairs and rebuilt sidecars (never content). */
  log: (message: string) => void;
}

async function fsyncDir(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function mkdirDurable(home: string, relDir: string): Promise<void> {
  // Create each missing level and fsync its parent, so that a new segment's directory entry survives a crash.
  const parts = relDir.split('/');
  let current = home;
  for (const part of parts) {
    const next = join(current, part);
    try {
      await mkdir(next, { mode: 0o700 });
      await fsyncDir(current);
    } catch (error: unknown) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    current = next;
  }
}

/**
 * The append-only segment files of one data dir and the summary of each: the only code that writes
 * `entries/`. Appends go to the newest segment at a known committed size; a failed write is cut back
 * to that size, so the files never hold an unacknowledged partial line.
 */
export class SegmentStore {
  readonly home: string;
  private readonly maxBytes: number;
  private readonly log: (message: string) => void;
  /** All segments, oldest first; the last one is open for appends. */
  private segments: SegmentSummary[] = [];
  private handle: FileHandle | null = null;

  private constructor(options: SegmentStoreOptions) {
    this.home = options.home;
    this.maxBytes = options.segmentMaxBytes ?? DEFAULT_SEGMENT_MAX_BYTES;
    this.log = options.log;
  }

  /** Opens the store: loads or rebuilds summaries and repairs a torn last line of the newest segment. */
  static async open(options: SegmentStoreOptions): Promise<SegmentStore> {
    const store = new SegmentStore(options);
    const locations = await listSegments(store.home);
    for (const [index, location] of locations.entries()) {
      const isLast = index === locations.length - 1;
      if (isLast) await store.repairTornTail(location.file, location.segment);
      const summary = isLast ? null : await store.readSidecar(location.file);
      store.segments.push(summary ?? (await store.scan(location.segment, location.file, !isLast)));
    }
    const last = store.segments.at(-1);
    if (last !== undefined) store.handle = await open(join(store.home, last.file), 'r+');
    return store;
  }

  /** Summaries of all segments, oldest first (the last is open). Read-only view. */
  list(): readonly SegmentSummary[] {
    return this.segments;
  }

  get lastSeq(): number {
    return this.segments.at(-1)?.last_seq ?? 0;
  }

  get lastHash(): string | null {
    return this.segments.at(-1)?.last_hash ?? null;
  }

  get totalEntries(): number {
    return this.segments.reduce((n, s) => n + s.count, 0);
  }

  get totalBytes(): number {
    return this.segments.reduce((n, s) => n + s.bytes, 0);
  }

  /** Committed size of each segment: readers must not look past it (a batch may be half written). */
  committedBytes(): Map<number, number> {
    return new Map(this.segments.map((s) => [s.segment, s.bytes]));
  }

  /**
   * Appends the lines of a batch and fdatasyncs them. Either all of it is durable when this resolves, or
   * it throws and the segment is cut back to its previous size. Rotates first when the segment is full or
   * the day changed.
   */
  async append(entries: readonly Entry[], data: Buffer, lineBytes: readonly number[]): Promise<void> {
    const first = entries[0];
    if (first === undefined) return;
    let current = this.segments.at(-1);
    if (current === undefined || this.handle === null || current.bytes >= this.maxBytes || (current.count > 0 && current.first_recorded.slice(0, 10) !== first.recorded_at.slice(0, 10))) {
      current = await this.rotate(first.recorded_at);
    }
    const handle = this.handle;
    if (handle === null) throw new Error('segment store is closed');
    const position = current.bytes;
    try {
      let written = 0;
      while (written < data.length) {
        const { bytesWritten } = await handle.write(data, written, data.length - written, position + written);
        written += bytesWritten;
      }
      await handle.datasync();
    } catch (error: unknown) {
      // Cut back whatever part of the batch reached the file: it was never acknowledged.
      await handle.truncate(position).catch(() => undefined);
      throw error;
    }
    let offset = position;
    entries.forEach((entry, i) => {
      const bytes = lineBytes[i] ?? 0;
      addToSummary(current, entry, offset, bytes);
      offset += bytes;
    });
  }

  /** Closes the open segment (sidecar written) and opens the next one on the day of `recordedIso`. */
  private async rotate(recordedIso: string): Promise<SegmentSummary> {
    const previous = this.segments.at(-1);
    if (previous !== undefined && this.handle !== null) {
      if (previous.count === 0) return previous;
      await this.handle.datasync();
      await this.handle.close();
      this.handle = null;
      await this.writeSidecar(previous);
    }
    const number = (previous?.segment ?? 0) + 1;
    const file = segmentFile(number, recordedIso);
    await mkdirDurable(this.home, dirname(file));
    const handle = await open(join(this.home, file), 'wx+', 0o600);
    await fsyncDir(join(this.home, dirname(file)));
    this.handle = handle;
    const summary = emptySummary(number, file);
    this.segments.push(summary);
    return summary;
  }

  /** Removes the oldest `count` closed segments and their sidecars. */
  async dropOldest(count: number): Promise<SegmentSummary[]> {
    const closed = this.segments.length - 1;
    const dropped = this.segments.slice(0, Math.min(count, closed));
    for (const summary of dropped) {
      await rm(join(this.home, summaryFileOf(summary.file)), { force: true });
      await rm(join(this.home, summary.file), { force: true });
      await fsyncDir(join(this.home, dirname(summary.file))).catch(() => undefined);
    }
    this.segments = this.segments.slice(dropped.length);
    return dropped;
  }

  async close(): Promise<void> {
    const handle = this.handle;
    this.handle = null;
    if (handle === null) return;
    await handle.datasync().catch(() => undefined);
    await handle.close();
  }

  private async readSidecar(file: string): Promise<SegmentSummary | null> {
    try {
      const summary = JSON.parse(await readFile(join(this.home, summaryFileOf(file)), 'utf8')) as SegmentSummary;
      const size = (await stat(join(this.home, file))).size;
      // A sidecar is a cache: if it disagrees with the file it is rebuilt, never trusted.
      if (summary.bytes !== size || summary.file !== file) return null;
      return summary;
    } catch {
      return null;
    }
  }

  private async writeSidecar(summary: SegmentSummary): Promise<void> {
    const path = join(this.home, summaryFileOf(summary.file));
    await writeFile(`${path}.tmp`, JSON.stringify(summary), { mode: 0o600 });
    await rename(`${path}.tmp`, path);
  }

  private async scan(segment: number, file: string, writeSidecar: boolean): Promise<SegmentSummary> {
    const summary = emptySummary(segment, file);
    for await (const line of readLinesForward(join(this.home, file))) {
      try {
        addToSummary(summary, JSON.parse(line.text) as Entry, line.offset, line.bytes);
      } catch {
        // An unparseable line (hand edit) keeps its bytes counted; verify reports it.
        summary.bytes = line.offset + line.bytes;
      }
    }
    if (writeSidecar) {
      this.log(`rebuilt the summary of ${file}`);
      await this.writeSidecar(summary);
    }
    return summary;
  }

  /**
   * A crash during a write can leave a last line without its newline. Nothing in it was acknowledged (acks
   * follow fsync of whole lines), so it is cut off, and its bytes are kept in `torn/` for inspection.
   */
  private async repairTornTail(file: string, segment: number): Promise<void> {
    let tornOffset = -1;
    let tornBytes = 0;
    for await (const _line of readLinesForward(join(this.home, file), 0, Number.POSITIVE_INFINITY, (offset, bytes) => {
      tornOffset = offset;
      tornBytes = bytes;
    })) {
      // Only the callback matters here.
    }
    if (tornOffset < 0) return;
    const handle = await open(join(this.home, file), 'r+');
    try {
      const bytes = Buffer.alloc(tornBytes);
      await handle.read(bytes, 0, tornBytes, tornOffset);
      await mkdirDurable(this.home, TORN_DIR);
      const keep = join(this.home, TORN_DIR, `${String(segment).padStart(6, '0')}-${tornOffset}.partial`);
      await writeFile(keep, bytes, { mode: 0o600 });
      await handle.truncate(tornOffset);
      await handle.datasync();
    } finally {
      await handle.close();
    }
    this.log(`repaired a torn last line in ${file} at byte ${tornOffset} (${tornBytes} bytes kept in ${TORN_DIR}/)`);
  }
}
