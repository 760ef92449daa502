import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_ACCESS_ITEMS } from '../../../daemon/protocol/messages.ts';
import { AccessRecorder, type AccessBatch } from '../../../extension/auditLog/accessRecorder.ts';

const silent = () => undefined;

test('activity is batched into one record: opening, distinct filter sets and distinct entries', async () => {
  const sent: AccessBatch[] = [];
  const recorder = new AccessRecorder({ viewer: 'alice', log: silent, batchMs: 3_600_000, send: async (b) => void sent.push(b) });
  recorder.viewerOpened();
  recorder.filterApplied({ decision: 'blocked' });
  recorder.filterApplied({ decision: 'blocked' });
  recorder.filterApplied({ model: 'gpt-4o' });
  recorder.entryOpened(7);
  recorder.entryOpened(7);
  recorder.entryOpened(9);
  assert.equal(sent.length, 0, 'nothing is sent before the batch window ends');
  await recorder.flush();
  assert.equal(sent.length, 1);
  const batch = sent[0];
  assert.equal(batch?.viewer, 'alice');
  assert.equal(batch?.opened, 1);
  assert.deepEqual(batch?.filters, [{ decision: 'blocked' }, { model: 'gpt-4o' }]);
  assert.deepEqual(batch?.entries, [7, 9]);
  assert.ok(Date.parse(batch?.since ?? '') <= Date.parse(batch?.until ?? ''));
  await recorder.flush();
  assert.equal(sent.length, 1, 'no empty records');
  await recorder.dispose();
});

test('the batch window sends by itself once activity started', async () => {
  let resolve: (b: AccessBatch) => void = () => undefined;
  const arrived = new Promise<AccessBatch>((r) => (resolve = r));
  const recorder = new AccessRecorder({ viewer: 'alice', log: silent, batchMs: 10, send: async (b) => resolve(b) });
  recorder.entryOpened(3);
  assert.deepEqual((await arrived).entries, [3]);
  await recorder.dispose();
});

test('a batch the daemon could not take is kept and merged into the next one', async () => {
  const sent: AccessBatch[] = [];
  let down = true;
  const logged: string[] = [];
  const recorder = new AccessRecorder({
    viewer: 'bob',
    log: (m) => logged.push(m),
    batchMs: 3_600_000,
    send: async (b) => {
      if (down) throw new Error('the daemon is not connected');
      sent.push(b);
    },
  });
  recorder.entryOpened(1);
  await recorder.flush();
  assert.equal(sent.length, 0);
  assert.equal(logged.length, 1);
  down = false;
  recorder.entryOpened(2);
  await recorder.flush();
  assert.deepEqual(sent[0]?.entries, [1, 2]);
  await recorder.dispose();
});

test('dispose sends what is left, and batches stay within the protocol limit', async () => {
  const sent: AccessBatch[] = [];
  const recorder = new AccessRecorder({ viewer: 'carol', log: silent, batchMs: 3_600_000, send: async (b) => void sent.push(b) });
  for (let seq = 1; seq <= MAX_ACCESS_ITEMS + 50; seq++) recorder.entryOpened(seq);
  await recorder.dispose();
  assert.equal(sent.length, 1);
  assert.equal(sent[0]?.entries.length, MAX_ACCESS_ITEMS);
  assert.equal(sent[0]?.entries.at(-1), MAX_ACCESS_ITEMS + 50);
});
