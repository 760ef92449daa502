import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { DirDestination } from '../../../../daemon/export/destinations/dirDestination.ts';
import { fileNameOfKey, keyOfFileName } from '../../../../daemon/export/destinations/folderNames.ts';
import { ExportDestinationError, type ObjectBody } from '../../../../daemon/export/exportDestination.ts';
import { filesUnder } from '../../../support/filesUnder.ts';
import { tempDir } from '../../../support/tempDir.ts';

function body(text: string): ObjectBody {
  const bytes = Buffer.from(text);
  return { open: () => Readable.from([bytes]), size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex'), contentType: 'application/x-ndjson' };
}

async function read(destination: DirDestination, key: string): Promise<string> {
  return Buffer.concat(await (await destination.getObject(key)).toArray()).toString('utf8');
}

const LAKERA_KEY = '2026/12/01/10/2026-12-01T10:15:03+00:00_000000000001-000000000009.jsonl';

describe('folder destination file names', () => {
  test('the mapping is reversible and leaves no character Windows refuses', () => {
    const keys = [LAKERA_KEY, 'a%3Ab/100%.jsonl', 'x<y>z"w|v?u*t\\s', 'tab\there', 'year=2026/month=12/day=01/000000000001-000000000002.jsonl.gz', 'ü/日本.jsonl'];
    for (const key of keys) {
      const name = fileNameOfKey(key);
      assert.ok([...name].every((c) => !'<>:"|?*'.includes(c) && c.charCodeAt(0) >= 0x20), name);
      assert.equal(keyOfFileName(name), key);
    }
    assert.equal(fileNameOfKey(LAKERA_KEY), '2026/12/01/10/2026-12-01T10%3A15%3A03+00%3A00_000000000001-000000000009.jsonl');
    // Keys without such characters keep their names: Hive exports look as before.
    assert.equal(fileNameOfKey('year=2026/month=12/day=01/1-2.jsonl'), 'year=2026/month=12/day=01/1-2.jsonl');
  });

  test('an object with ":" in its key is stored under a mapped name and listed and read by its key', async () => {
    const dir = await tempDir('dir-dest');
    try {
      const destination = new DirDestination({ path: dir.path, prefix: 'exp' });
      const result = await destination.putObject(LAKERA_KEY, body('row\n'));
      assert.deepEqual(result, { key: LAKERA_KEY, existed: false });
      const files = (await filesUnder(dir.path)).map((f) => f.slice(dir.path.length + 1));
      assert.deepEqual(files, [join('exp', fileNameOfKey(LAKERA_KEY))]);
      assert.ok(files.every((f) => !f.includes(':')));
      const listed = [];
      for await (const info of destination.list('')) listed.push(info);
      assert.deepEqual(listed, [{ key: LAKERA_KEY, size: 4 }]);
      assert.equal(await read(destination, LAKERA_KEY), 'row\n');
      // Written again with the same bytes (a resumed run): existed; with other bytes: refused.
      assert.equal((await destination.putObject(LAKERA_KEY, body('row\n'))).existed, true);
      await assert.rejects(destination.putObject(LAKERA_KEY, body('other\n')), (e: unknown) => e instanceof ExportDestinationError && e.code === 'object_exists');
    } finally {
      await dir.dispose();
    }
  });

  test('objects written under the unmapped name (before the mapping) are still found, read and never duplicated', async () => {
    const dir = await tempDir('dir-dest-legacy');
    try {
      const legacy = join(dir.path, LAKERA_KEY);
      await mkdir(join(legacy, '..'), { recursive: true });
      await writeFile(legacy, 'old\n');
      const destination = new DirDestination({ path: dir.path, prefix: '' });
      const listed = [];
      for await (const info of destination.list('2026/')) listed.push(info.key);
      assert.deepEqual(listed, [LAKERA_KEY]);
      assert.equal(await read(destination, LAKERA_KEY), 'old\n');
      assert.equal((await destination.putObject(LAKERA_KEY, body('old\n'))).existed, true);
      await assert.rejects(destination.putObject(LAKERA_KEY, body('new\n')), (e: unknown) => e instanceof ExportDestinationError && e.code === 'object_exists');
      assert.equal((await filesUnder(dir.path)).length, 1, 'no second copy under the mapped name');
    } finally {
      await dir.dispose();
    }
  });

  test('a key that leaves the folder is refused, mapped or not', async () => {
    const dir = await tempDir('dir-dest-escape');
    try {
      const destination = new DirDestination({ path: join(dir.path, 'inner'), prefix: '' });
      await assert.rejects(destination.putObject('../outside:x', body('x')), (e: unknown) => e instanceof ExportDestinationError && e.code === 'invalid_config');
    } finally {
      await dir.dispose();
    }
  });
});
