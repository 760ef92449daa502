import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EVENT_BOUNDS, jsonBoundsProblem, type JsonBounds } from '../../../daemon/protocol/jsonBounds.ts';

const SMALL: JsonBounds = { maxDepth: 3, maxKeys: 3, maxItems: 2, maxKeyLength: 4, maxStringLength: 5 };

function nested(levels: number): unknown {
  let value: unknown = 'leaf';
  for (let i = 0; i < levels; i++) value = { m: value };
  return value;
}

test('a value within every bound has no problem', () => {
  assert.equal(jsonBoundsProblem({ a: [null, 'five5'], b: { c: true } }, SMALL), null);
  assert.equal(jsonBoundsProblem('short', SMALL), null);
  assert.equal(jsonBoundsProblem(42, SMALL), null);
  assert.equal(jsonBoundsProblem(nested(3), SMALL), null);
});

test('each bound is reported with the dotted path of the node that breaks it', () => {
  assert.deepEqual(jsonBoundsProblem({ a: { b: 'sixsix' } }, SMALL), { path: 'a.b', message: 'a string longer than 5 characters' });
  assert.deepEqual(jsonBoundsProblem(nested(4), SMALL), { path: 'm.m.m', message: 'nested deeper than 3 levels' });
  assert.deepEqual(jsonBoundsProblem({ a: [1, 2, 3] }, SMALL), { path: 'a', message: 'an array of more than 2 items' });
  assert.deepEqual(jsonBoundsProblem({ a: [0, { w: 1, x: 2, y: 3, z: 4 }] }, SMALL), { path: 'a.1', message: 'an object with more than 3 keys' });
  assert.deepEqual(jsonBoundsProblem({ a: { longer: 1 } }, SMALL), { path: 'a', message: 'a key longer than 4 characters' });
  assert.deepEqual(jsonBoundsProblem(JSON.parse('{"a":[{"__proto__":1}]}'), { ...SMALL, maxKeyLength: 9 }), { path: 'a.0.__proto__', message: 'the key __proto__ is not accepted' });
  assert.deepEqual(jsonBoundsProblem('sixsix', SMALL), { path: '', message: 'a string longer than 5 characters' });
});

test("an object's own bounds come before its children's, and the last child is looked at first", () => {
  assert.deepEqual(jsonBoundsProblem({ a: 'sixsix', long_key: 1 }, SMALL), { path: '', message: 'a key longer than 4 characters' });
  assert.deepEqual(jsonBoundsProblem({ a: 'sixsix', b: 'sevens7' }, SMALL), { path: 'b', message: 'a string longer than 5 characters' });
  assert.deepEqual(jsonBoundsProblem(['sixsix', 'sevens7'], SMALL), { path: '1', message: 'a string longer than 5 characters' });
});

test('thousands of levels are refused at the bound, without going deeper', () => {
  const problem = jsonBoundsProblem({ metadata: nested(100_000) }, EVENT_BOUNDS);
  assert.equal(problem?.message, `nested deeper than ${EVENT_BOUNDS.maxDepth} levels`);
  assert.equal(problem?.path.split('.').length, EVENT_BOUNDS.maxDepth);
});
