import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';

/** A complete line of a segment: its text without the newline, and where it starts. */
export interface SegmentLine {
  text: string;
  offset: number;
  bytes: number;
}

const CHUNK = 256 * 1024;

/** Bytes of a segment holding only complete lines (each ends with a newline), and where they start. */
export interface SegmentChunk {
  data: Buffer;
  offset: number;
}

/**
 * Reads a segment from `start` to `end` (bytes) in chunks of whole lines, oldest first: for readers that
 * walk every line, without a promise per line. A last line without its newline is not yielded: it is a
 * torn write, reported through `onTornTail` with its offset.
 */
export async function* readChunksForward(
  path: string,
  start = 0,
  end = Number.POSITIVE_INFINITY,
  onTornTail?: (offset: number, bytes: number) => void,
): AsyncGenerator<SegmentChunk> {
  const handle = await open(path, 'r');
  try {
    const size = Math.min(end, (await handle.stat()).size);
    let position = start;
    let carry: Buffer = Buffer.alloc(0);
    let carryOffset = start;
    while (position < size) {
      const length = Math.min(CHUNK, size - position);
      const chunk = Buffer.allocUnsafe(length);
      const { bytesRead } = await handle.read(chunk, 0, length, position);
      if (bytesRead === 0) break;
      position += bytesRead;
      const data = carry.length > 0 ? Buffer.concat([carry, chunk.subarray(0, bytesRead)]) : chunk.subarray(0, bytesRead);
      const complete = data.lastIndexOf(10) + 1;
      if (complete > 0) yield { data: data.subarray(0, complete), offset: carryOffset };
      carryOffset += complete;
      carry = Buffer.from(data.subarray(complete));
    }
    if (carry.length > 0) onTornTail?.(carryOffset, carry.length);
  } finally {
    await handle.close();
  }
}

/** Bytes per read of {@link readChunksForwardSync}: larger reads, fewer calls (a worker thread blocks on them). */
const SYNC_CHUNK = 1024 * 1024;

/**
 * {@link readChunksForward} with blocking reads into one reused buffer: for a worker thread that has nothing
 * else to do meanwhile (the verify workers), where a read through libuv's thread pool costs a round trip and
 * a wait per chunk. Each chunk is valid only until the next one is asked for (the buffer is reused; the
 * caller may overwrite the bytes it was given). Not for the main thread: it blocks the event loop.
 */
export function* readChunksForwardSync(path: string, start = 0, end = Number.POSITIVE_INFINITY, onTornTail?: (offset: number, bytes: number) => void): Generator<SegmentChunk> {
  const fd = openSync(path, 'r');
  try {
    const size = Math.min(end, fstatSync(fd).size);
    let buffer = Buffer.allocUnsafe(Math.min(SYNC_CHUNK, Math.max(1, size - start)));
    let position = start;
    // buffer[0, carry) holds the start of a line that began before `position`, at byte `carryOffset`.
    let carry = 0;
    let carryOffset = start;
    while (position < size) {
      // A line longer than the buffer: grow it (a line is at most what the daemon accepts in one event).
      if (carry === buffer.length) buffer = Buffer.concat([buffer, Buffer.allocUnsafe(buffer.length)]);
      const bytesRead = readSync(fd, buffer, carry, Math.min(buffer.length - carry, size - position), position);
      if (bytesRead === 0) break;
      position += bytesRead;
      const filled = carry + bytesRead;
      const complete = buffer.lastIndexOf(10, filled - 1) + 1;
      if (complete > 0) yield { data: buffer.subarray(0, complete), offset: carryOffset };
      carryOffset += complete;
      carry = filled - complete;
      if (carry > 0) buffer.copyWithin(0, complete, filled);
    }
    if (carry > 0) onTornTail?.(carryOffset, carry);
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads the complete lines of a segment from `start` to `end` (bytes), oldest first. A last line without
 * its newline is not yielded: it is a torn write, reported through `onTornTail` with its offset.
 */
export async function* readLinesForward(
  path: string,
  start = 0,
  end = Number.POSITIVE_INFINITY,
  onTornTail?: (offset: number, bytes: number) => void,
): AsyncGenerator<SegmentLine> {
  for await (const { data, offset } of readChunksForward(path, start, end, onTornTail)) {
    let lineStart = 0;
    for (let nl = data.indexOf(10); nl !== -1; nl = data.indexOf(10, lineStart)) {
      yield { text: data.toString('utf8', lineStart, nl), offset: offset + lineStart, bytes: nl + 1 - lineStart };
      lineStart = nl + 1;
    }
  }
}

/**
 * Reads the complete lines that end at or before `end`, newest first. `end` must be a line boundary
 * (the committed size of a segment, or the offset of a line from an earlier read).
 */
export async function* readLinesBackward(path: string, end: number): AsyncGenerator<SegmentLine> {
  const handle = await open(path, 'r');
  try {
    let position = end;
    // Bytes at the start of the previous window whose line began further back: [position, position+carry).
    let carry: Buffer = Buffer.alloc(0);
    while (position > 0) {
      const length = Math.min(CHUNK, position);
      position -= length;
      const chunk = Buffer.allocUnsafe(length);
      await handle.read(chunk, 0, length, position);
      const data = carry.length > 0 ? Buffer.concat([chunk, carry]) : chunk;
      // data[0, stop) is unprocessed and ends with the newline of its last line.
      let stop = data.length;
      while (stop >= 2) {
        const nl = data.lastIndexOf(10, stop - 2);
        if (nl === -1) break;
        yield { text: data.toString('utf8', nl + 1, stop - 1), offset: position + nl + 1, bytes: stop - nl - 1 };
        stop = nl + 1;
      }
      carry = Buffer.from(data.subarray(0, stop));
    }
    if (carry.length > 1) yield { text: carry.toString('utf8', 0, carry.length - 1), offset: 0, bytes: carry.length };
  } finally {
    await handle.close();
  }
}

/** Listed lines closer than this are read together (one read of their span costs less than two reads). */
const LISTED_GAP = 64 * 1024;
/**
 * Most bytes one read of listed lines spans (unless a single line is longer). Each read is a round trip to
 * libuv's thread pool; on a busy machine the wait for it, not the copy, is what a query of rare entries
 * spends: at 1M entries (5.8 MiB segments, 5 % listed) 4 MiB reads took about half the wall time of 256 KiB
 * ones, while copying the bytes between the listed lines costs little.
 */
const LISTED_RANGE = 4 * 1024 * 1024;
/** The spare buffer is let go after this long without a read of listed lines (ms). */
const SPARE_IDLE_MS = 10_000;

/**
 * One buffer kept for reads of listed lines. A 30-day query reads a few hundred such ranges; a new buffer
 * for each was most of the daemon's garbage collection (external memory drives V8's full collections). Only
 * one reader holds it at a time; a concurrent reader allocates its own. Dropped when idle (not held by an
 * idle daemon).
 */
let spareRangeBuffer: Buffer | null = null;
let spareTimer: NodeJS.Timeout | null = null;

function takeRangeBuffer(bytes: number): Buffer {
  const spare = spareRangeBuffer;
  if (spare !== null && spare.length >= bytes) {
    spareRangeBuffer = null;
    return spare;
  }
  return Buffer.allocUnsafe(Math.max(bytes, Math.min(LISTED_RANGE, 64 * 1024)));
}

function returnRangeBuffer(buffer: Buffer): void {
  // A buffer grown for one very long line is not kept.
  if (buffer.length > LISTED_RANGE * 2 || (spareRangeBuffer !== null && spareRangeBuffer.length >= buffer.length)) return;
  spareRangeBuffer = buffer;
  if (spareTimer === null) {
    spareTimer = setTimeout(() => {
      spareTimer = null;
      spareRangeBuffer = null;
    }, SPARE_IDLE_MS);
    spareTimer.unref();
  } else {
    spareTimer.refresh();
  }
}

/**
 * Reads the lines listed in `spans` (byte offset and length of each line, in pairs, oldest first) that end
 * at or before `end`, newest first: a query for rare entries reads their lines and not the segment. Yields
 * the lines of one read at a time (a promise per read, not per line). `wanted` is asked before each read
 * how many more lines the caller needs at least (a page that is nearly full): a read spans no more listed
 * lines than that, so the bytes and lines after a page's last entry are not read only to be read again
 * for the next page.
 */
export async function* readListedLinesBackward(path: string, spans: readonly number[], end: number, wanted?: () => number): AsyncGenerator<SegmentLine[]> {
  let last = spans.length - 2;
  while (last >= 0 && (spans[last] ?? 0) + (spans[last + 1] ?? 0) > end) last -= 2;
  if (last < 0) return;
  const handle = await open(path, 'r');
  let buffer: Buffer | null = null;
  try {
    while (last >= 0) {
      // Group the lines before `last` that are near each other, up to one range (and the lines wanted).
      const rangeEnd = (spans[last] ?? 0) + (spans[last + 1] ?? 0);
      const fewest = last - 2 * (Math.max(1, wanted?.() ?? Number.POSITIVE_INFINITY) - 1);
      let first = last;
      while (first >= 2 && first > fewest) {
        const offset = spans[first - 2] ?? 0;
        const gap = (spans[first] ?? 0) - (offset + (spans[first - 1] ?? 0));
        if (gap > LISTED_GAP || rangeEnd - offset > LISTED_RANGE) break;
        first -= 2;
      }
      const rangeStart = spans[first] ?? 0;
      const length = rangeEnd - rangeStart;
      if (buffer === null || buffer.length < length) {
        if (buffer !== null) returnRangeBuffer(buffer);
        buffer = takeRangeBuffer(length);
      }
      let read = 0;
      while (read < length) {
        const { bytesRead } = await handle.read(buffer, read, length - read, rangeStart + read);
        if (bytesRead === 0) throw new Error(`${path} ends before byte ${rangeEnd}`);
        read += bytesRead;
      }
      const lines: SegmentLine[] = [];
      for (let i = last; i >= first; i -= 2) {
        const offset = spans[i] ?? 0;
        const bytes = spans[i + 1] ?? 0;
        lines.push({ text: buffer.toString('utf8', offset - rangeStart, offset - rangeStart + bytes - 1), offset, bytes });
      }
      // The lines are copied out (strings): the buffer is free for the next read, even while they are used.
      yield lines;
      last = first - 2;
    }
  } finally {
    if (buffer !== null) returnRangeBuffer(buffer);
    await handle.close();
  }
}
