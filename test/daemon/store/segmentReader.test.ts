import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { readChunksForward, readChunksForwardSync, readLinesBackward, readLinesForward, readListedLinesBackward } from '../../../daemon/store/segmentReader.ts';
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

test('the blocking reader yields the lines of the async one, lines longer than its buffer and a torn tail included', async () => {
  const dir = await tempDir('reader-sync');
  try {
    // A line longer than the 1 MiB buffer, multi-byte characters across reads, and a torn last line.
    const lines = Array.from({ length: 300 }, (_, i) => (i === 150 ? 'é'.repeat(700_000) : i % 61 === 0 ? 'x'.repeat(300_000) : 'y'.repeat(i * 11)) + `#${i}`);
    const path = join(dir.path, 'segment.jsonl');
    await writeFile(path, `${lines.map((l) => `${l}\n`).join('')}torn`);
    const split = (data: Buffer, offset: number, out: Array<[number, string]>): void => {
      let start = 0;
      for (let nl = data.indexOf(10); nl !== -1; nl = data.indexOf(10, start)) {
        out.push([offset + start, data.toString('utf8', start, nl)]);
        start = nl + 1;
      }
    };
    for (const from of [0, 7]) {
      const viaAsync: Array<[number, string]> = [];
      const viaSync: Array<[number, string]> = [];
      let tornAsync: [number, number] | null = null;
      let tornSync: [number, number] | null = null;
      for await (const { data, offset } of readChunksForward(path, from, Number.POSITIVE_INFINITY, (o, b) => (tornAsync = [o, b]))) split(data, offset, viaAsync);
      for (const { data, offset } of readChunksForwardSync(path, from, Number.POSITIVE_INFINITY, (o, b) => (tornSync = [o, b]))) split(data, offset, viaSync);
      assert.deepEqual(viaSync, viaAsync);
      assert.deepEqual(tornSync, tornAsync);
      assert.notEqual(tornSync, null);
    }
    // An end before the file's: a line cut by it is torn there.
    const viaSync: Array<[number, string]> = [];
    let torn: [number, number] | null = null;
    const firstBytes = Buffer.byteLength(lines[0] ?? '') + 1;
    for (const { data, offset } of readChunksForwardSync(path, 0, firstBytes + 5, (o, b) => (torn = [o, b]))) split(data, offset, viaSync);
    assert.deepEqual(viaSync.map(([offset, text]) => [offset, text.length]), [[0, firstBytes - 1]]);
    assert.deepEqual(torn, [firstBytes, 5]);
  } finally {
    await dir.dispose();
  }
});

test('reads listed lines newest first, before a given end, across reads, never more lines than wanted per read', async () => {
  const dir = await tempDir('reader-listed');
  try {
    // Lines of varied length (two longer than a 4 MiB read) and large gaps, so that reads are split.
    const lines = Array.from({ length: 300 }, (_, i) => (i % 101 === 50 ? 'é'.repeat(2_200_000) : 'x'.repeat((i * 37) % 5000)) + `#${i}`);
    const path = join(dir.path, 'segment.jsonl');
    const text = lines.map((l) => `${l}\n`).join('');
    await writeFile(path, text);
    const all = [];
    for await (const line of readLinesForward(path)) all.push(line);
    const listed = all.filter((_, i) => i % 3 === 0 || i % 101 === 50);
    const spans = listed.flatMap((l) => [l.offset, l.bytes]);
    const collect = async (end: number, wanted?: () => number) => {
      const reads: string[][] = [];
      for await (const batch of readListedLinesBackward(path, spans, end, wanted)) reads.push(batch.map((l) => l.text));
      return reads;
    };
    const whole = await collect(Buffer.byteLength(text));
    assert.deepEqual(whole.flat(), listed.map((l) => l.text).reverse());
    assert.ok(whole.length > 1, 'more than one read');
    // From the offset of a listed line: only the lines before it.
    const middle = listed[40];
    assert.ok(middle);
    assert.deepEqual((await collect(middle.offset)).flat(), listed.slice(0, 40).map((l) => l.text).reverse());
    // A caller that needs 7 more lines gets at most 7 per read, and all of them in the end.
    const sevens = await collect(Buffer.byteLength(text), () => 7);
    assert.ok(sevens.every((read) => read.length <= 7));
    assert.deepEqual(sevens.flat(), whole.flat());
  } finally {
    await dir.dispose();
  }
});
