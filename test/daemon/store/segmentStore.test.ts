import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import { AuditStore } from '../../../daemon/store/auditStore.ts';
import { SegmentStore } from '../../../daemon/store/segmentStore.ts';
import { tempDir } from '../../support/tempDir.ts';
import { testKeys } from '../../support/testKeys.ts';

test('dropOldest takes segments off the list before their files go: a listed segment always has its file', async () => {
  const home = await tempDir('segment-drop');
  try {
    const keys = testKeys();
    const writer = await AuditStore.open({ home: home.path, keys, contentMode: () => 'hash', log: () => undefined, segmentMaxBytes: 1024 });
    for (let i = 0; i < 60; i++) await writer.ingest([{ kind: 'chat.input', input: `prompt ${i}` }]);
    await writer.close();

    const store = await SegmentStore.open({ home: home.path, log: () => undefined, summaryKeys: { activeId: keys.hmac.id, keys: keys.hmacKeys } });
    const before = store.list();
    assert.ok(before.length > 12, `only ${before.length} segments`);
    const count = before.length - 2;
    let done = false;
    const dropping = store.dropOldest(count).finally(() => {
      done = true;
    });
    // Every turn of the event loop while the files are removed: what a reader would list exists.
    let looks = 0;
    while (!done) {
      for (const segment of store.list()) assert.ok(existsSync(join(home.path, segment.file)), `${segment.file} is listed but gone (look ${looks})`);
      looks++;
      await tick();
    }
    const dropped = await dropping;
    assert.equal(dropped.length, count);
    assert.deepEqual(store.list(), before.slice(count));
    for (const segment of dropped) assert.ok(!existsSync(join(home.path, segment.file)), `${segment.file} is still there`);
    assert.ok(store.wasDropped(dropped.at(-1)?.segment ?? 0));
    await store.close();
  } finally {
    await home.dispose();
  }
});
