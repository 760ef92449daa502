import { readdir, readFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { Entry } from '../../daemon/protocol/entry.ts';
import type { DaemonClient } from '../../daemon/client/daemonClient.ts';

/** Every finished file under `root` (unfinished `.partial` writes left out), as keys relative to `root`. */
export async function exportedKeys(root: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (!entry.name.endsWith('.partial')) found.push(relative(root, path).split(sep).join('/'));
    }
  };
  await walk(root);
  return found.sort();
}

/** The rows of every data object under `root`, read straight from the files (gzip'ed or not). */
export async function exportedRows(root: string): Promise<Array<{ key: string; line: string; entry: Entry }>> {
  const rows: Array<{ key: string; line: string; entry: Entry }> = [];
  for (const key of await exportedKeys(root)) {
    if (!key.endsWith('.jsonl') && !key.endsWith('.jsonl.gz')) continue;
    const bytes = await readFile(join(root, key));
    const text = (key.endsWith('.gz') ? gunzipSync(bytes) : bytes).toString('utf8');
    for (const line of text.split('\n')) if (line !== '') rows.push({ key, line, entry: JSON.parse(line) as Entry });
  }
  return rows;
}

/** Every entry of the local store, oldest first, through the protocol. */
export async function localEntries(client: DaemonClient): Promise<Entry[]> {
  const all: Entry[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await client.request('query', { limit: 1000, ...(cursor === undefined ? {} : { cursor }) });
    all.push(...page.entries);
    if (page.next_cursor === null) break;
    cursor = page.next_cursor;
  }
  return all.reverse();
}
