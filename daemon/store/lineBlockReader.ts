import { open } from 'node:fs/promises';

/** Bytes read at once: a few thousand stored lines. */
const BLOCK = 1024 * 1024;

/**
 * Reads segments from `start` to `end` (bytes, both line boundaries: a committed size, a sparse offset) in
 * blocks of whole lines, newlines included, oldest first, into one buffer that is used again for every
 * block and every segment: a block is valid only until the next one is asked for. For readers that walk
 * every line of a range and copy what they keep (an export): a new buffer per read, and a copy to join the
 * line cut at its end, were most of the garbage collection of such a walk (V8 collects fully on external
 * memory). A line longer than the buffer grows it. Bytes after the last newline before `end` are not
 * yielded. One reader serves one walk at a time.
 */
export class LineBlockReader {
  private buffer: Buffer | null = null;

  async *blocks(path: string, start: number, end: number): AsyncGenerator<Buffer> {
    const handle = await open(path, 'r');
    try {
      let buffer = (this.buffer ??= Buffer.allocUnsafe(BLOCK));
      // buffer[0, filled) holds bytes read but not yielded yet: the start of a line cut by the last read.
      let filled = 0;
      let position = start;
      while (position < end) {
        if (filled === buffer.length) {
          const bigger = Buffer.allocUnsafe(buffer.length * 2);
          buffer.copy(bigger, 0, 0, filled);
          buffer = this.buffer = bigger;
        }
        const { bytesRead } = await handle.read(buffer, filled, Math.min(buffer.length - filled, end - position), position);
        if (bytesRead === 0) break;
        position += bytesRead;
        filled += bytesRead;
        const complete = buffer.lastIndexOf(10, filled - 1) + 1;
        if (complete === 0) continue;
        yield buffer.subarray(0, complete);
        buffer.copyWithin(0, complete, filled);
        filled -= complete;
      }
    } finally {
      await handle.close();
    }
  }
}
