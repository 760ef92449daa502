import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';

/** Lowercase hex SHA-256 of everything a stream yields. */
export async function sha256OfStream(stream: Readable): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
