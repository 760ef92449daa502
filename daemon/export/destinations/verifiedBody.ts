import { createHash } from 'node:crypto';
import { Readable, Transform, pipeline } from 'node:stream';
import type { ObjectBody } from '../exportDestination.ts';

/** The body's stream did not produce the size and SHA-256 it declared: a bug of its producer. */
export class BodyMismatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BodyMismatchError';
  }
}

/**
 * A fresh stream of `body` that fails, instead of ending, when its bytes do not match the declared size
 * and SHA-256. The check sits in `flush`, before the stream ends, so an upload never completes with bytes
 * other than those the manifest will name.
 */
export function verifiedStream(body: ObjectBody): Readable {
  const hash = createHash('sha256');
  let size = 0;
  const check = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      size += chunk.length;
      if (size > body.size) {
        callback(new BodyMismatchError(`The object body is longer than its declared ${body.size} bytes.`));
        return;
      }
      hash.update(chunk);
      callback(null, chunk);
    },
    flush(callback) {
      const sha256 = hash.digest('hex');
      if (size !== body.size || sha256 !== body.sha256) {
        callback(new BodyMismatchError(`The object body (${size} bytes, SHA-256 ${sha256}) does not match its declared size and SHA-256.`));
        return;
      }
      callback();
    },
  });
  return pipeline(body.open(), check, () => undefined);
}

/** The body's bytes read at once (`body.read()`), refused like {@link verifiedStream} when they do not match. */
export async function verifiedBytes(body: ObjectBody & { read(): Promise<Buffer> }): Promise<Buffer> {
  const bytes = await body.read();
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (bytes.length !== body.size || sha256 !== body.sha256) {
    throw new BodyMismatchError(`The object body (${bytes.length} bytes, SHA-256 ${sha256}) does not match its declared size and SHA-256.`);
  }
  return bytes;
}

/** An {@link ObjectBody} over bytes in memory (probe objects, tests). */
export function bufferBody(content: Buffer, contentType: ObjectBody['contentType'] = 'application/json'): ObjectBody {
  return {
    open: () => Readable.from([content], { objectMode: false }),
    size: content.length,
    sha256: createHash('sha256').update(content).digest('hex'),
    contentType,
  };
}
