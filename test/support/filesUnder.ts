import { readdir } from 'node:fs/promises';
import { join } from 'node:path';

/** Every regular file below `dir`, for tests that check what reached the disk. */
export async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) out.push(join(entry.parentPath, entry.name));
  }
  return out;
}
