import { createHash, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { once } from 'node:events';
import { Transform, type Writable } from 'node:stream';
import { createGzip } from 'node:zlib';
import type { ObjectBody } from './exportDestination.ts';

/** Characters of rows collected before they are written (a few hundred rows). */
const BLOCK_CHARS = 256 * 1024;

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
  private readonly file: WriteStream;
  /** Where rows are written: the gzip stream, or the counter in front of the file. */
  private readonly head: Writable;
  private readonly gzipped: boolean;
  private readonly hash: Hash = createHash('sha256');
  private bytes = 0;
  private pending: string[] = [];
  private pendingChars = 0;
  private finished: { size: number; sha256: string } | null = null;

  constructor(path: string, partition: string, gzip: boolean) {
    this.path = path;
    this.partition = partition;
    this.gzipped = gzip;
    this.file = createWriteStream(path, { flags: 'wx', mode: 0o600 });
    const counter = new Transform({
      transform: (chunk: Buffer, _encoding, done) => {
        this.hash.update(chunk);
        this.bytes += chunk.length;
        done(null, chunk);
      },
    });
    counter.pipe(this.file);
    if (gzip) {
      const zip = createGzip();
      zip.pipe(counter);
      this.head = zip;
    } else {
      this.head = counter;
    }
  }

  /**
   * Appends one row (a stored entry line, newline included). Rows are collected and handed to the streams
   * in blocks of about {@link BLOCK_CHARS}: one stream write (and hash update, gzip call) per row cost more
   * than the rest of the export. Returns true when a block is due: then `await flush()`.
   */
  append(seq: number, ts: string, line: string): boolean {
    if (this.rows === 0) {
      this.firstSeq = seq;
      this.firstTs = ts;
    }
    this.rows++;
    this.lastSeq = seq;
    this.pending.push(line);
    this.pendingChars += line.length;
    return this.pendingChars >= BLOCK_CHARS;
  }

  /** Hands the collected rows to the streams; resolves when their buffers have room again. */
  async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const block = this.pending.join('');
    this.pending = [];
    this.pendingChars = 0;
    if (!this.head.write(block)) await once(this.head, 'drain');
  }

  /** Size in bytes as stored; final once `finish()` resolved. */
  get size(): number {
    return this.finished?.size ?? this.bytes;
  }

  /** Flushes and closes the file; returns its size and SHA-256. */
  async finish(): Promise<{ size: number; sha256: string }> {
    if (this.finished !== null) return this.finished;
    await this.flush();
    const closed = once(this.file, 'close');
    this.head.end();
    await closed;
    this.finished = { size: this.bytes, sha256: this.hash.digest('hex') };
    return this.finished;
  }

  body(): ObjectBody {
    if (this.finished === null) throw new Error('finish() the object file before uploading it');
    const { size, sha256 } = this.finished;
    return {
      open: () => createReadStream(this.path),
      size,
      sha256,
      contentType: 'application/x-ndjson',
      ...(this.gzipped ? { contentEncoding: 'gzip' as const } : {}),
    };
  }

  async remove(): Promise<void> {
    if (this.finished === null) {
      this.head.destroy();
      this.file.destroy();
    }
    await rm(this.path, { force: true });
  }
}
