import { join, relative } from 'node:path';
import { filesUnder } from './filesUnder.ts';

/**
 * The segment files of a data dir as docs/entry.md describes them (`entries/YYYY/MM/DD/NNNNNN.jsonl`),
 * relative to `home`, in segment-number order.
 */
export async function segmentFiles(home: string): Promise<string[]> {
  const files = (await filesUnder(join(home, 'entries'))).filter((f) => f.endsWith('.jsonl')).map((f) => relative(home, f));
  return files.sort((a, b) => a.slice(-12).localeCompare(b.slice(-12)));
}
