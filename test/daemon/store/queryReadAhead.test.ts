import assert from 'node:assert/strict';
import { test } from 'node:test';
import { QueryReadAhead, type QueryPage } from '../../../daemon/store/queryReadAhead.ts';

const page = (cursor: string | null): QueryPage => ({ entries: [], lines: [], next_cursor: cursor });

test('a page read ahead is handed out once, for the same filter, limit, cursor and segment list', async () => {
  const ahead = new QueryReadAhead();
  const list = [{}];
  let reads = 0;
  const read = async (): Promise<QueryPage> => {
    reads++;
    return page('next');
  };
  ahead.start({ decision: 'blocked' }, 10, 'c1', list, 0, read);
  assert.equal(reads, 1);
  assert.equal(await ahead.take({ decision: 'blocked' }, 11, 'c1', list, 1), null, 'another limit');
  ahead.start({ decision: 'blocked' }, 10, 'c1', list, 0, read);
  assert.equal(await ahead.take({ decision: 'warned' }, 10, 'c1', list, 1), null, 'another filter');
  assert.equal(await ahead.take({ decision: 'blocked' }, 10, 'c2', list, 1), null, 'another cursor');
  assert.deepEqual(await ahead.take({ decision: 'blocked' }, 10, 'c1', list, 1), page('next'));
  assert.equal(await ahead.take({ decision: 'blocked' }, 10, 'c1', list, 1), null, 'handed out once');
});

test('a page read from another segment list (retention ran), an old page or a failed read is not handed out', async () => {
  const ahead = new QueryReadAhead();
  const before = [{}];
  ahead.start(undefined, 10, 'c1', before, 0, async () => page(null));
  assert.equal(await ahead.take(undefined, 10, 'c1', [{}], 1), null);
  ahead.start(undefined, 10, 'c1', before, 0, async () => page(null));
  assert.equal(await ahead.take(undefined, 10, 'c1', before, 60_000), null);
  ahead.start(undefined, 10, 'c1', before, 0, async () => {
    throw new Error('segment gone');
  });
  assert.equal(await ahead.take(undefined, 10, 'c1', before, 1), null);
  ahead.start(undefined, 10, 'c1', before, 0, async () => page(null));
  ahead.clear();
  assert.equal(await ahead.take(undefined, 10, 'c1', before, 1), null);
});

test('at most four pages are kept, the oldest goes first', async () => {
  const ahead = new QueryReadAhead();
  const list = [{}];
  for (let i = 0; i < 5; i++) ahead.start(undefined, 10, `c${i}`, list, i, async () => page(`after c${i}`));
  assert.equal(await ahead.take(undefined, 10, 'c0', list, 5), null);
  for (let i = 1; i < 5; i++) assert.deepEqual(await ahead.take(undefined, 10, `c${i}`, list, 5), page(`after c${i}`));
});
