import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { readLinesBackward, readLinesForward } from '../../../daemon/store/segmentReader.ts';
import { tempDir } from '../../support/tempDir.ts';

test('reads the same lines forward and backward, across chunk boundaries, with their offsets', async () => {
  const dir = await tempDir('reader');
  try {
    // Lines of varied length, some longer than the 256 KiB read chunk, with multi-byte characters.
    const lines = Array.from({ length: 400 }, (_, i) => (i % 97 === 0 ? 'é'.repeat(200_000) : 'x'.repeat(i * 7)) + `#${i}`);
    const path = join(dir.path, 'segment.jsonl');
    const text = lines.map((l) => `${l}\n`).join('');
    await writeFile(path, text);
    const size = Buffer.byteLength(text);
    const forward = [];
    for await (const line of readLinesForward(path)) forward.push(line);
    const backward = [];
    for await (const line of readLinesBackward(path, size)) backward.push(line);
    assert.deepEqual(forward.map((l) => l.text), lines);
    assert.deepEqual(backward.map((l) => l.text).reverse(), lines);
    assert.deepEqual(backward.map((l) => l.offset).reverse(), forward.map((l) => l.offset));
    const buffer = Buffer.from(text);
    for (const line of forward.slice(0, 20)) {
      assert.equal(buffer.toString('utf8', line.offset, line.offset + line.bytes), `${line.text}\n`);
    }
    // Starting backward from a line's offset yields exactly the lines before it.
    const middle = forward[200];
    assert.ok(middle);
    const before = [];
    for await (const line of readLinesBackward(path, middle.offset)) before.push(line.text);
    assert.deepEqual(before.reverse(), lines.slice(0, 200));
  } finally {
    await dir.dispose();
  }
});

test('a last line without its newline is not yielded but reported as torn', async () => {
  const dir = await tempDir('reader-torn');
  try {
    const path = join(dir.path, 'segment.jsonl');
    await writeFile(path, 'one\ntwo\nthr');
    const seen: string[] = [];
    let torn: [number, number] | null = null;
    for await (const line of readLinesForward(path, 0, Number.POSITIVE_INFINITY, (offset, bytes) => (torn = [offset, bytes]))) seen.push(line.text);
    assert.deepEqual(seen, ['one', 'two']);
    assert.deepEqual(torn, [8, 3]);
  } finally {
    await dir.dispose();
  }
});
