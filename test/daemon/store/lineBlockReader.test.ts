import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { LineBlockReader } from '../../../daemon/store/lineBlockReader.ts';
import { tempDir } from '../../support/tempDir.ts';

describe('LineBlockReader', () => {
  test('blocks of whole lines, the range only, lines longer than its buffer, one reader for several walks', async () => {
    const dir = await tempDir('line-blocks');
    try {
      const lines = Array.from({ length: 3000 }, (_, i) => `{"n":${i},"pad":"${'x'.repeat(i % 7 === 0 ? 3000 : 300)}"}\n`);
      // One line of 3 MiB: longer than the reader's buffer.
      lines[1500] = `{"n":1500,"pad":"${'y'.repeat(3 * 1024 * 1024)}"}\n`;
      const text = lines.join('');
      const path = join(dir.path, 'segment.jsonl');
      // A torn last line past `end` must not be yielded.
      await writeFile(path, text + '{"torn":');
      const reader = new LineBlockReader();
      const start = Buffer.byteLength(lines.slice(0, 10).join(''));
      const end = Buffer.byteLength(text);
      for (let round = 0; round < 2; round++) {
        const seen: string[] = [];
        for await (const block of reader.blocks(path, start, end)) {
          assert.equal(block[block.length - 1], 10, 'each block ends with a newline');
          seen.push(block.toString('utf8'));
        }
        assert.equal(seen.join(''), lines.slice(10).join(''));
      }
    } finally {
      await dir.dispose();
    }
  });
});
