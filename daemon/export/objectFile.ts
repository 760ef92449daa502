import { createHash, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { open, readFile, unlink, type FileHandle } from 'node:fs/promises';
import { once } from 'node:events';
import { Transform } from 'node:stream';
import { createGzip, type Gzip } from 'node:zlib';
import type { ObjectBody } from './exportDestination.ts';

/** Bytes of rows collected before they are written (a few hundred rows). */
const BLOCK_BYTES = 256 * 1024;
/** Bytes per read when the file is uploaded: fewer, larger reads than a read stream's default 64 KiB. */
const READ_BYTES = 1024 * 1024;

/**
 * Blocks kept for the next objects: an export opens a new object per partition and chunk, and a new
 * half-megabyte each time was a large part of its garbage collection (external memory).
 */
const spareBlocks: Buffer[] = [];
const SPARE_BLOCKS = 8;

function takeBlock(bytes: number): Buffer {
  const spare = spareBlocks.pop();
  if (spare !== undefined && spare.length >= bytes) return spare;
  return Buffer.allocUnsafe(Math.max(BLOCK_BYTES * 2, bytes));
}

function returnBlock(block: Buffer | null): void {
  // A block grown for a very long row is not kept.
  if (block !== null && block.length === BLOCK_BYTES * 2 && spareBlocks.length < SPARE_BLOCKS) spareBlocks.push(block);
}

/**
 * One export object rendered to a temporary file in the data dir: rows are appended as JSONL (gzip'ed when
 * asked), and the size and SHA-256 of the bytes as stored are computed while writing, so the body can be
 * uploaded (and re-opened for a retry) without holding it in memory.
 */
export class ObjectFile {
  readonly path: string;
  readonly partition: string;
  rows = 0;
  firstSeq = 0;
  lastSeq = 0;
  firstTs = '';
  private readonly gzip: { zip: Gzip; file: WriteStream } | null;
  /** The plain file, opened at the first flush. */
  private handle: FileHandle | null = null;
  private readonly hash: Hash = createHash('sha256');
  private bytes = 0;
  /** Rows copied out of the store's buffers, waiting to be written: `block[0, used)`. */
  private block: Buffer | null = null;
  private used = 0;
  /** The run of rows not copied yet: consecutive rows of one chunk of stored bytes are one copy. */
  private run: { data: Buffer; start: number; end: number } | null = null;
  private finished: { size: number; sha256: string } | null = null;

  constructor(path: string, partition: string, gzip: boolean) {
    this.path = path;
    this.partition = partition;
    if (gzip) {
      const file = createWriteStream(path, { flags: 'wx', mode: 0o600 });
      const counter = new Transform({
        transform: (chunk: Buffer, _encoding, done) => {
          this.hash.update(chunk);
          this.bytes += chunk.length;
          done(null, chunk);
        },
      });
      counter.pipe(file);
      const zip = createGzip();
      zip.pipe(counter);
      this.gzip = { zip, file };
    } else {
      this.gzip = null;
    }
  }

  /**
   * Appends one row: the stored line `data[start, end)`, newline included, copied as it is. Rows are
   * collected and written in blocks of about {@link BLOCK_BYTES} (one write and hash update per row cost
   * more than the rest of the export). Returns true when a block is due: then `await flush()`. The bytes
   * are read from `data` when the block is due or at `release()`: call it before `data` changes.
   */
  append(seq: number, ts: string, data: Buffer, start: number, end: number): boolean {
    if (this.rows === 0) {
      this.firstSeq = seq;
      this.firstTs = ts;
    }
    this.rows++;
    this.lastSeq = seq;
    const run = this.run;
    if (run !== null && run.data === data && run.end === start) {
      run.end = end;
    } else {
      this.release();
      this.run = { data, start, end };
    }
    return this.used + (this.run?.end ?? 0) - (this.run?.start ?? 0) >= BLOCK_BYTES;
  }

  /** Copies the rows appended so far out of the buffers they came from (which may then change). */
  release(): void {
    const run = this.run;
    if (run === null) return;
    this.run = null;
    const length = run.end - run.start;
    if (this.block === null || this.used + length > this.block.length) {
      const grown = takeBlock(this.used + length);
      this.block?.copy(grown, 0, 0, this.used);
      returnBlock(this.block);
      this.block = grown;
    }
    run.data.copy(this.block, this.used, run.start, run.end);
    this.used += length;
  }

  /** Writes the collected rows; resolves when they are written (or handed to gzip). */
  async flush(): Promise<void> {
    this.release();
    const block = this.block;
    if (block === null || this.used === 0) return;
    const bytes = block.subarray(0, this.used);
    this.used = 0;
    if (this.gzip !== null) {
      // zlib may keep the buffer queued after `write` returns: it gets a copy, the block is used again.
      if (!this.gzip.zip.write(Buffer.from(bytes))) await once(this.gzip.zip, 'drain');
      return;
    }
    this.hash.update(bytes);
    this.bytes += bytes.length;
    this.handle ??= await open(this.path, 'wx', 0o600);
    await this.handle.writeFile(bytes);
    if (block.length > BLOCK_BYTES * 8) this.block = null;
  }

  /** Size in bytes as stored; final once `finish()` resolved. */
  get size(): number {
    return this.finished?.size ?? this.bytes + this.used;
  }

  /** Flushes and closes the file; returns its size and SHA-256. */
  async finish(): Promise<{ size: number; sha256: string }> {
    if (this.finished !== null) return this.finished;
    await this.flush();
    if (this.gzip !== null) {
      const closed = once(this.gzip.file, 'close');
      this.gzip.zip.end();
      await closed;
    } else {
      this.handle ??= await open(this.path, 'wx', 0o600);
      await this.handle.close();
    }
    // Nothing refers to the block any more: the last write was awaited, gzip was given a copy.
    returnBlock(this.block);
    this.block = null;
    this.finished = { size: this.bytes, sha256: this.hash.digest('hex') };
    return this.finished;
  }

  body(): ObjectBody {
    if (this.finished === null) throw new Error('finish() the object file before uploading it');
    const { size, sha256 } = this.finished;
    return {
      open: () => createReadStream(this.path, { highWaterMark: READ_BYTES }),
      read: () => readFile(this.path),
      size,
      sha256,
      contentType: 'application/x-ndjson',
      ...(this.gzip !== null ? { contentEncoding: 'gzip' as const } : {}),
    };
  }

  async remove(): Promise<void> {
    if (this.finished === null) {
      this.block = null;
      this.run = null;
      if (this.gzip !== null) {
        this.gzip.zip.destroy();
        this.gzip.file.destroy();
      }
      await this.handle?.close().catch(() => undefined);
    }
    // `unlink`, not `rm`: rm's checks (an lstat before it) showed in profiles, once per object.
    await unlink(this.path).catch((error: unknown) => {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    });
  }
}
