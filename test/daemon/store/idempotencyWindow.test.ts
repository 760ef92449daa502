import assert from 'node:assert/strict';
import { test } from 'node:test';
import { idempotencyDigest, IdempotencyWindow } from '../../../daemon/store/idempotencyWindow.ts';
import { uuidv7 } from '../../../daemon/store/uuidv7.ts';

test('the window answers each remembered key with its seq and id, and drops the oldest first', () => {
  const window = new IdempotencyWindow(3);
  const acks = [1, 2, 3, 4].map((seq) => ({ seq, id: uuidv7(1_700_000_000_000 + seq) }));
  acks.forEach((ack, i) => window.set(`key-${i}`, ack));
  assert.equal(window.size, 3);
  assert.equal(window.get('key-0'), undefined, 'the oldest key went when the fourth came');
  for (let i = 1; i < 4; i++) assert.deepEqual(window.get(`key-${i}`), acks[i]);
  assert.equal(window.get('key-4'), undefined);
  assert.equal(window.get(''), undefined);
});

test('a key remembered again gets its new ack; a long key is held like a short one', () => {
  const window = new IdempotencyWindow(10);
  const long = 'x'.repeat(512);
  window.set(long, { seq: 1, id: uuidv7() });
  const newer = { seq: 9, id: uuidv7() };
  window.set(long, newer);
  assert.equal(window.size, 1);
  assert.deepEqual(window.get(long), newer);
  assert.equal(window.get('x'.repeat(511)), undefined);
});

test('an id that is not a UUID is not remembered (it could not be answered as it was)', () => {
  const window = new IdempotencyWindow(10);
  window.set('k', { seq: 1, id: 'not-a-uuid' });
  const id = uuidv7();
  for (const bad of [id.toUpperCase(), id.replace('-', 'x'), id.slice(1), `${id}0`, id.replace(/[0-9a-f]$/, 'g')]) window.set('k', { seq: 2, id: bad });
  assert.equal(window.get('k'), undefined);
  assert.equal(window.size, 0);
});

test('a digest computed once serves get and set, and answers like the key itself', () => {
  const window = new IdempotencyWindow(10);
  const key = 'clé-🔑';
  const digest = idempotencyDigest(key);
  assert.equal(window.get(key, digest), undefined);
  const ack = { seq: 5, id: uuidv7() };
  window.set(key, ack, digest);
  assert.deepEqual(window.get(key), ack);
  assert.deepEqual(window.get(key, digest), ack);
  assert.equal(window.get('clé-🔒'), undefined);
});

test('the window agrees with a plain insertion-ordered map over many inserts and evictions', () => {
  const capacity = 257;
  const window = new IdempotencyWindow(capacity);
  const model = new Map<string, { seq: number; id: string }>();
  let seed = 7;
  const random = (n: number): number => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed % n;
  };
  for (let seq = 1; seq <= 20_000; seq++) {
    // Keys repeat now and then, as resends after the window forgot them do.
    const key = `producer-${random(3)}-${random(5_000)}`;
    const ack = { seq, id: uuidv7(1_700_000_000_000 + seq) };
    window.set(key, ack);
    if (model.has(key)) model.set(key, ack);
    else {
      model.set(key, ack);
      if (model.size > capacity) model.delete(model.keys().next().value as string);
    }
    if (seq % 997 === 0) {
      assert.equal(window.size, model.size);
      for (const [k, v] of model) assert.deepEqual(window.get(k), v, `key ${k} at seq ${seq}`);
    }
  }
  let found = 0;
  for (let p = 0; p < 3; p++) {
    for (let i = 0; i < 5_000; i++) {
      const key = `producer-${p}-${i}`;
      assert.deepEqual(window.get(key), model.get(key));
      if (model.has(key)) found++;
    }
  }
  assert.equal(found, capacity);
});

test('digests that share their first bytes (one home bucket, one quick-compare value) are still told apart, also across evictions', () => {
  // Digests are binary text, one character per byte; these share the 4 bytes a bucket keeps and differ after.
  const capacity = 37;
  const window = new IdempotencyWindow(capacity);
  const model = new Map<string, { seq: number; id: string }>();
  const digestOf = (n: number): string => `\u00ab\u0001\u00ff\u0080${String.fromCharCode(n & 0xff, (n >> 8) & 0xff)}${'\u0000'.repeat(26)}`;
  let seed = 11;
  const random = (n: number): number => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed % n;
  };
  for (let seq = 1; seq <= 3_000; seq++) {
    // Mostly the shared prefix; now and then a neighbour whose own home bucket lies inside the shared run.
    const n = random(120);
    const digest = n < 100 ? digestOf(n) : `${String.fromCharCode(0xab + (n % 3), 0x01, 0xff, 0x80)}${String.fromCharCode(n)}${'\u0000'.repeat(27)}`;
    const ack = { seq, id: uuidv7(1_700_000_000_000 + seq) };
    window.set(`key-${digest}`, ack, digest);
    if (!model.has(digest)) {
      model.set(digest, ack);
      if (model.size > capacity) model.delete(model.keys().next().value as string);
    } else model.set(digest, ack);
    if (seq % 101 === 0) {
      assert.equal(window.size, model.size);
      for (let m = 0; m < 120; m++) {
        const probe = m < 100 ? digestOf(m) : `${String.fromCharCode(0xab + (m % 3), 0x01, 0xff, 0x80)}${String.fromCharCode(m)}${'\u0000'.repeat(27)}`;
        assert.deepEqual(window.get('unused', probe), model.get(probe), `digest ${m} at seq ${seq}`);
      }
    }
  }
});
