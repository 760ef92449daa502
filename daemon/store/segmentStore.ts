// `fs.fdatasyncSync` is called through the module object: the group-commit test observes every fdatasync.
import fs, { readFileSync, statSync, writeSync } from 'node:fs';
import { mkdir, open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Entry } from '../protocol/entry.ts';
import { listSegments, segmentFile, summaryFileOf, type SegmentLocation } from './segmentPaths.ts';
import { readLinesForward } from './segmentReader.ts';
import { addToSummary, emptySummary, type SegmentSummary } from './segmentSummary.ts';
import { openSealedSummary, sealedSummaryText, type SummaryKeys } from './summarySeal.ts';

/** Default size at which a segment is closed and the next one opened (bytes). */
export const DEFAULT_SEGMENT_MAX_BYTES = 32 * 1024 * 1024;
/** Where the bytes of a torn last line are kept when the store is repaired on start. */
export const TORN_DIR = 'torn';

export interface SegmentStoreOptions {
  home: string;
  segmentMaxBytes?: number;
  /** Told about repairs and rebuilt sidecars (never content). */
  log: (message: string) => void;
  /** The store's HMAC keys: summaries are sealed with the active one and checked against all. */
  summaryKeys: SummaryKeys;
  /**
   * The newest seq a signed record names. Incomplete bytes at the end are cut off only when every signed
   * entry is still there: otherwise they may hold a signed entry, and the store opens damaged instead.
   */
  signedSeq?: number;
}

/** Why the store must not be written: the signed part of the chain is damaged at its end. */
export interface StoreDamage {
  code: 'signed_range_damaged';
  message: string;
}

interface TornBytes {
  file: string;
  segment: number;
  offset: number;
  bytes: number;
  /** The whole file holds no complete line (a crash right after a new segment was created). */
  wholeFile: boolean;
}

export async function fsyncDir(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Writes a whole file (0600) and fdatasyncs it before returning. */
export async function writeFileDurable(path: string, data: string | Buffer): Promise<void> {
  const handle = await open(path, 'w', 0o600);
  try {
    await handle.writeFile(data);
    await handle.datasync();
  } finally {
    await handle.close();
  }
}

export async function mkdirDurable(home: string, relDir: string): Promise<void> {
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
  private summaryKeys: SummaryKeys;
  /** Set when the end of the signed chain is damaged: nothing is cut off or appended. */
  readonly damage: StoreDamage | null = null;
  /** The newest segment number retention removed (or is removing) in this process; 0 when none. */
  private droppedThrough = 0;

  private constructor(options: SegmentStoreOptions, damage: StoreDamage | null) {
    this.home = options.home;
    this.maxBytes = options.segmentMaxBytes ?? DEFAULT_SEGMENT_MAX_BYTES;
    this.log = options.log;
    this.summaryKeys = options.summaryKeys;
    this.damage = damage;
  }

  /**
   * Opens the store: loads (or rebuilds) the summaries, finds the chain's end in the newest segment that
   * holds a complete entry, whatever empty or torn files a crash left after it, and cuts off those
   * incomplete bytes (kept in `torn/`) when no signed entry can be among them.
   */
  static async open(options: SegmentStoreOptions): Promise<SegmentStore> {
    const locations = await listSegments(options.home);
    // Files after the newest complete entry: a crash between creating a segment and writing a whole line.
    const trailing: SegmentLocation[] = [];
    for (let last = locations.at(-1); last !== undefined && !(await hasCompleteLine(join(options.home, last.file))); last = locations.at(-1)) {
      trailing.unshift(last);
      locations.pop();
    }
    const probe = new SegmentStore(options, null);
    const torn: TornBytes[] = [];
    for (const [index, location] of locations.entries()) {
      const isLast = index === locations.length - 1;
      // The open segment has a sidecar only after a clean close (see `close`); it is used when it still
      // describes every byte of the file (nothing was appended or torn since), else the segment is scanned.
      const summary = await probe.readSidecar(location);
      const onTorn = isLast ? (offset: number, bytes: number) => torn.push({ ...location, offset, bytes, wholeFile: false }) : undefined;
      probe.segments.push(summary ?? (await probe.scan(location.segment, location.file, !isLast, onTorn)));
    }
    for (const location of trailing) {
      const size = (await stat(join(options.home, location.file))).size;
      if (size > 0) torn.push({ ...location, offset: 0, bytes: size, wholeFile: true });
    }
    const lastSeq = probe.lastSeq;
    const signedSeq = options.signedSeq ?? 0;
    let damage: StoreDamage | null = null;
    if (torn.length > 0 && lastSeq < signedSeq) {
      const where = torn.map((t) => `${t.file} at byte ${t.offset}`).join(', ');
      damage = {
        code: 'signed_range_damaged',
        message:
          `the chain ends at seq ${lastSeq} with an incomplete line (${where}), but seq ${signedSeq} was signed: signed entries are damaged. ` +
          'Nothing was cut off and nothing will be written: run `ai-audit repair` to set the damaged bytes aside, or restore the segment from a backup.',
      };
    }
    const store = new SegmentStore(options, damage);
    store.segments = probe.segments;
    if (damage === null) {
      for (const t of torn) await store.setTornAside(t);
      for (const location of trailing) await store.removeFile(location.file);
      const last = store.segments.at(-1);
      if (last !== undefined) {
        // A segment closed before the crash becomes the open one again: its sidecar would go stale.
        await rm(join(store.home, summaryFileOf(last.file)), { force: true });
        store.handle = await open(join(store.home, last.file), 'r+');
      }
    }
    return store;
  }

  /** New active HMAC key (after `keys.rotate`): the next sealed summaries use it. */
  setSummaryKeys(keys: SummaryKeys): void {
    this.summaryKeys = keys;
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
   * the day changed. `syncHere`: the fdatasync runs on this thread instead of libuv's thread pool (see
   * AuditStore.commit for when).
   */
  async append(entries: readonly Entry[], data: Buffer, lineBytes: readonly number[], syncHere = false): Promise<void> {
    const first = entries[0];
    if (first === undefined) return;
    if (this.damage !== null) throw new Error(this.damage.message);
    let current = this.segments.at(-1);
    if (current === undefined || this.handle === null || current.bytes >= this.maxBytes || (current.count > 0 && current.first_recorded.slice(0, 10) !== first.recorded_at.slice(0, 10))) {
      current = await this.rotate(first.recorded_at);
    }
    const handle = this.handle;
    if (handle === null) throw new Error('segment store is closed');
    const position = current.bytes;
    try {
      // The write only copies the batch into the page cache: done here, it spares each batch a round trip
      // through libuv's thread pool (a thread woken, a completion back on the event loop) before the
      // fdatasync, the one call that waits for the disk. On this 2-core VM every wake-up costs CPU: fewer
      // context switches and futex calls per event (docs/decisions.md, "Performance: single-event requests").
      let written = 0;
      while (written < data.length) written += writeSync(handle.fd, data, written, data.length - written, position + written);
      if (syncHere) fs.fdatasyncSync(handle.fd);
      else await handle.datasync();
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

  /**
   * Removes the oldest `count` closed segments and their sidecars. The list changes first, so that a reader
   * that lists segments after this call never finds a listed file gone. A crash (or a failed removal) after
   * that leaves files the next start lists again: still a valid chain (the caller signed its anchor before),
   * which the next retention run removes.
   */
  async dropOldest(count: number): Promise<SegmentSummary[]> {
    const closed = this.segments.length - 1;
    const dropped = this.segments.slice(0, Math.min(count, closed));
    this.segments = this.segments.slice(dropped.length);
    // Before the files go: a reader that listed one before and finds it missing learns that retention removed it (wasDropped).
    this.droppedThrough = Math.max(this.droppedThrough, dropped.at(-1)?.segment ?? 0);
    for (const summary of dropped) {
      await rm(join(this.home, summaryFileOf(summary.file)), { force: true });
      await rm(join(this.home, summary.file), { force: true });
      await fsyncDir(join(this.home, dirname(summary.file))).catch(() => undefined);
    }
    return dropped;
  }

  /**
   * Whether retention removed (or is removing) segment `segment`: a reader that listed it before and finds
   * its file gone skips it (the entries are expired); any other missing file is a fault.
   */
  wasDropped(segment: number): boolean {
    return segment <= this.droppedThrough;
  }

  /** The newest segment number retention removed; a walk of the whole store that overlapped a change of it is redone. */
  get lastDropped(): number {
    return this.droppedThrough;
  }

  async close(): Promise<void> {
    const handle = this.handle;
    this.handle = null;
    if (handle === null) return;
    await handle.datasync().catch(() => undefined);
    await handle.close();
    // The next start reads this instead of parsing the whole open segment (up to 32 MiB); it removes it
    // before appending, so it never outlives the bytes it describes.
    const open = this.segments.at(-1);
    if (open !== undefined && open.count > 0 && this.damage === null) {
      await this.writeSidecar(open).catch((error: unknown) => this.log(`writing the summary of ${open.file} failed: ${String(error)}`));
    }
  }

  // Synchronous reads: this runs only while the daemon starts (one sidecar per segment, before anything
  // listens), where a blocking read of a small file costs about half the CPU of a promise-based one.
  private async readSidecar({ file, segment }: SegmentLocation): Promise<SegmentSummary | null> {
    let text: string;
    try {
      text = readFileSync(join(this.home, summaryFileOf(file)), 'utf8');
    } catch {
      return null;
    }
    // A summary changes query and stats results: it is used only when its MAC proves the daemon wrote it
    // and it still describes the file; otherwise it is rebuilt from the segment.
    const opened = openSealedSummary(text, this.summaryKeys.keys);
    if ('problem' in opened) {
      this.log(`the summary of ${file} ${opened.problem}: not used`);
      return null;
    }
    const size = statSync(join(this.home, file)).size;
    const { summary } = opened;
    if (summary.bytes !== size || summary.file !== file || summary.segment !== segment) {
      this.log(`the summary of ${file} does not describe the file (${summary.bytes} bytes, file has ${size}): not used`);
      return null;
    }
    return summary;
  }

  private async writeSidecar(summary: SegmentSummary): Promise<void> {
    const path = join(this.home, summaryFileOf(summary.file));
    await writeFileDurable(`${path}.tmp`, sealedSummaryText(summary, this.summaryKeys));
    await rename(`${path}.tmp`, path);
    await fsyncDir(dirname(path));
  }

  private async scan(segment: number, file: string, writeSidecar: boolean, onTornTail?: (offset: number, bytes: number) => void): Promise<SegmentSummary> {
    const summary = emptySummary(segment, file);
    for await (const line of readLinesForward(join(this.home, file), 0, Number.POSITIVE_INFINITY, onTornTail)) {
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
  private async setTornAside(torn: TornBytes): Promise<void> {
    const handle = await open(join(this.home, torn.file), 'r+');
    try {
      const bytes = Buffer.alloc(torn.bytes);
      await handle.read(bytes, 0, torn.bytes, torn.offset);
      await mkdirDurable(this.home, TORN_DIR);
      const keep = join(this.home, TORN_DIR, `${String(torn.segment).padStart(6, '0')}-${torn.offset}.partial`);
      await writeFileDurable(keep, bytes);
      await fsyncDir(join(this.home, TORN_DIR));
      if (!torn.wholeFile) {
        await handle.truncate(torn.offset);
        await handle.datasync();
      }
    } finally {
      await handle.close();
    }
    this.log(`repaired a torn last line in ${torn.file} at byte ${torn.offset} (${torn.bytes} bytes kept in ${TORN_DIR}/)`);
  }

  /** Removes a segment file that holds no complete entry (its bytes, if any, are already in `torn/`). */
  private async removeFile(file: string): Promise<void> {
    await rm(join(this.home, file), { force: true });
    await rm(join(this.home, summaryFileOf(file)), { force: true });
    await fsyncDir(join(this.home, dirname(file)));
    this.log(`removed ${file}: a segment created just before a crash, with no complete entry`);
  }
}

export async function hasCompleteLine(path: string): Promise<boolean> {
  for await (const _line of readLinesForward(path)) return true;
  return false;
}
