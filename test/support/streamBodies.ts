import { createCipheriv, createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { ObjectBody } from '../../daemon/export/exportDestination.ts';

const CHUNK = 1024 * 1024;

/**
 * A body of `size` pseudo-random bytes (AES-CTR keystream of `seed`) that is a true stream: it is produced
 * 1 MiB at a time on each `open()`, never held whole, as the exporter's bodies are.
 */
export async function streamBody(size: number, seed: string, contentType: ObjectBody['contentType'] = 'application/x-ndjson'): Promise<ObjectBody> {
  const open = (): Readable => Readable.from(chunks(size, seed), { objectMode: false });
  const hash = createHash('sha256');
  for await (const chunk of open()) hash.update(chunk as Buffer);
  return { open, size, sha256: hash.digest('hex'), contentType };
}

function* chunks(size: number, seed: string): Generator<Buffer> {
  const key = createHash('sha256').update(seed).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  for (let left = size; left > 0; left -= CHUNK) yield cipher.update(Buffer.alloc(Math.min(CHUNK, left)));
}

/** The SHA-256 of bytes, lowercase hex. */
export function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}
