import assert from 'node:assert/strict';
import { test } from 'node:test';
import { uuidv7, uuidv7Time } from '../../../daemon/store/uuidv7.ts';

test('UUIDv7 ids carry their millisecond time, the version and variant bits, and do not repeat', () => {
  const now = Date.parse('2026-11-22T10:00:00.123Z');
  const ids = new Set(Array.from({ length: 5000 }, () => uuidv7(now)));
  assert.equal(ids.size, 5000);
  for (const id of [...ids].slice(0, 50)) {
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(uuidv7Time(id), now);
  }
  assert.equal(uuidv7Time('not-a-uuid'), null);
  assert.ok(uuidv7(now) < uuidv7(now + 1), 'ids sort by time');
});

test('every random digit of an id varies, the time digits follow the clock, and ids stay unique across milliseconds', () => {
  const start = Date.parse('2026-11-22T10:00:00.000Z');
  const ids = Array.from({ length: 4000 }, (_, i) => uuidv7(start + Math.floor(i / 7) * 997));
  assert.equal(new Set(ids).size, ids.length);
  ids.forEach((id, i) => assert.equal(uuidv7Time(id), start + Math.floor(i / 7) * 997));
  const randomAt = [15, 16, 17, 20, 21, 22, ...Array.from({ length: 12 }, (_, i) => 24 + i)];
  for (const at of randomAt) assert.equal(new Set(ids.map((id) => id[at])).size, 16, `digit ${at}`);
  assert.deepEqual([...new Set(ids.map((id) => id[19]))].sort(), ['8', '9', 'a', 'b']);
});
