import assert from 'node:assert/strict';
import fs from 'node:fs';
import { open as fsOpen } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { IngestAck, IngestRejected } from '../../../daemon/protocol/messages.ts';
import { AuditStore } from '../../../daemon/store/auditStore.ts';
import { tempDir } from '../../support/tempDir.ts';
import { testKeys } from '../../support/testKeys.ts';

/** Group commit by sender (AuditStore.gather): who is waited for, and that no ack comes before its fdatasync. */
describe('AuditStore group commit', () => {
  let home: { path: string; dispose(): Promise<void> };
  let clock: number;
  let store: AuditStore;
  /** What happened, in order: `req N`, `sync-start K`, `sync-end K`, `ack N`. */
  let log: string[];
  let onSyncStart: ((sync: number) => void) | null;
  let restore: () => void;

  beforeEach(async () => {
    home = await tempDir('group-commit');
    clock = Date.parse('2026-11-20T10:00:00Z');
    store = await AuditStore.open({ home: home.path, keys: testKeys(), contentMode: () => 'hash', log: () => undefined, now: () => clock });
    log = [];
    onSyncStart = null;
    // Every fdatasync of every file handle is logged (a FileHandle's prototype is only reachable through an instance).
    const probe = await fsOpen(join(home.path, 'probe'), 'w');
    const prototype = Object.getPrototypeOf(probe) as { datasync: () => Promise<void> };
    await probe.close();
    const original = prototype.datasync;
    let syncs = 0;
    prototype.datasync = async function (this: unknown) {
      const sync = ++syncs;
      log.push(`sync-start ${sync}`);
      onSyncStart?.(sync);
      await original.call(this);
      log.push(`sync-end ${sync}`);
    };
    // Small batches are synced on the event loop (fs.fdatasyncSync, see AuditStore.commit): logged the same way.
    const originalSync = fs.fdatasyncSync;
    fs.fdatasyncSync = (fd: number): void => {
      const sync = ++syncs;
      log.push(`sync-start ${sync}`);
      onSyncStart?.(sync);
      originalSync(fd);
      log.push(`sync-end ${sync}`);
    };
    restore = () => {
      prototype.datasync = original;
      fs.fdatasyncSync = originalSync;
    };
  });
  afterEach(async () => {
    restore();
    await store.close();
    await home.dispose();
  });

  let next = 0;
  const send = (sender?: object): Promise<Array<IngestAck | IngestRejected>> => {
    const n = ++next;
    log.push(`req ${n}`);
    return store.ingest([{ kind: 'chat.input', metadata: { n } }], sender).then((result) => {
      log.push(`ack ${n}`);
      return result;
    });
  };

  /** Each ack comes after the end of an fdatasync that started after its request was made. */
  const assertAckedAfterCoveringSync = (): void => {
    for (const [i, line] of log.entries()) {
      if (!line.startsWith('ack ')) continue;
      const requested = log.indexOf(`req ${line.slice(4)}`);
      const covering = log.slice(requested, i).find((l) => {
        const ended = log.indexOf(`sync-end ${l.slice(11)}`);
        return l.startsWith('sync-start ') && ended >= 0 && ended < i;
      });
      assert.ok(covering !== undefined, `${line} without an fdatasync that started after its request and ended before the ack: ${log.join(', ')}`);
    }
  };

  test('requests that arrive during a sync form the next batch, acked only after a sync of their own; one sender is never waited for', async () => {
    const connection = {};
    const batches: number[] = [];
    store.onEntries((entries) => batches.push(entries.length));
    const later: Array<Promise<unknown>> = [];
    // While the first batch's fdatasync runs, the same connection sends three more (a steady stream, or a
    // burst that a sync split): they must neither join the batch being synced nor wait for more requests.
    onSyncStart = (sync) => {
      if (sync === 1) for (let i = 0; i < 3; i++) later.push(send(connection));
    };
    const first = Array.from({ length: 7 }, () => send(connection));
    await Promise.all(first);
    await Promise.all(later);
    assert.deepEqual(batches, [7, 3]);
    assert.equal(log.filter((l) => l.startsWith('sync-start')).length, 2);
    assertAckedAfterCoveringSync();
    assert.deepEqual(store.groupCommitCounts, { batches: 2, waits: 0, waitsTimedOut: 0 });
  });

  test('senders acknowledged together are waited for (a bounded wait), but not after an idle period', async () => {
    const a = {};
    const b = {};
    await Promise.all([send(a), send(b)]);
    // Right after their ack, one of the two comes back alone: the writer waits for the other until its
    // short timer ends, then writes the one request.
    await send(a);
    assert.deepEqual(store.groupCommitCounts, { batches: 2, waits: 1, waitsTimedOut: 1 });
    await Promise.all([send(a), send(b)]);
    // Later (by the store's clock), a request starts an idle period: written at once, no wait, no timer.
    clock += 1000;
    await send(b);
    assert.deepEqual(store.groupCommitCounts, { batches: 4, waits: 1, waitsTimedOut: 1 });
    assertAckedAfterCoveringSync();
  });

  test('a large batch (synced on the thread pool) and small ones (on the event loop) are each acked after their fdatasync', async () => {
    const batches: number[] = [];
    store.onEntries((entries) => batches.push(entries.length));
    const sendMany = (count: number): Promise<unknown> => {
      const n = ++next;
      log.push(`req ${n}`);
      return store.ingest(Array.from({ length: count }, (_, i) => ({ kind: 'chat.input', metadata: { n, i } }))).then(() => log.push(`ack ${n}`));
    };
    await sendMany(40);
    await sendMany(2);
    await sendMany(40);
    assert.deepEqual(batches, [40, 2, 40]);
    assert.equal(log.filter((l) => l.startsWith('sync-start')).length, 3);
    assertAckedAfterCoveringSync();
  });

  test('closed-loop clients on connections of their own share one batch per round', async () => {
    const connections = Array.from({ length: 8 }, () => ({}));
    const batches: number[] = [];
    store.onEntries((entries) => batches.push(entries.length));
    await Promise.all(connections.map(async (connection) => {
      for (let i = 0; i < 5; i++) await send(connection);
    }));
    assert.deepEqual(batches, [8, 8, 8, 8, 8]);
    assert.equal(store.groupCommitCounts.waitsTimedOut, 0);
    assertAckedAfterCoveringSync();
  });
});
