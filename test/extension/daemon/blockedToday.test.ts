import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { DaemonClient } from '../../../daemon/client/daemonClient.ts';
import { BlockedTodayCounter } from '../../../extension/daemon/blockedToday.ts';
import type { DaemonProcess } from '../../support/daemonProcess.ts';
import { startDaemonSuite, type DaemonSuite } from '../../support/daemonSuite.ts';

let suite: DaemonSuite | undefined;
let daemon: DaemonProcess;
let producer: DaemonClient;

before(async () => {
  suite = await startDaemonSuite('blocked-today', { AI_AUDIT_MASTER_KEY: randomBytes(32).toString('base64') });
  ({ daemon, client: producer } = suite);
});
after(() => suite?.dispose());

const blocked = (n: number) => Array.from({ length: n }, () => ({ kind: 'chat.input' as const, decision: 'blocked' as const, reason: 'test' }));

async function statsToday(client: DaemonClient): Promise<number> {
  const today = new Date().toISOString().slice(0, 10);
  const stats = await client.request('stats', { filter: { since: `${today}T00:00:00.000Z`, decision: 'blocked' } });
  return stats.per_day.find((d) => d.day === today)?.blocked ?? 0;
}

/** Waits until the counter has shown `expected` (the count arrives asynchronously, by tail). */
async function shown(counts: number[], expected: number): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (counts.at(-1) !== expected && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(counts.at(-1), expected);
}

test("the count equals stats for today, also when a queue drains while the counter is starting", async () => {
  await producer.request('ingest', { events: blocked(2) });
  const client = await daemon.connect();
  const counts: number[] = [];
  const counter = new BlockedTodayCounter({ client, onCount: (c) => counts.push(c), log: () => undefined });
  try {
    // An outbox draining on the new connection: batches land before, during and after the subscription.
    const drained = Promise.all([1, 2, 3].map(() => producer.request('ingest', { events: [...blocked(1), { kind: 'chat.input', decision: 'allowed' }] })));
    await Promise.all([counter.start(), drained]);
    await shown(counts, await statsToday(producer));
    assert.equal(counts.at(-1), 5);
    // Later blocked entries (another window, the CLI) arrive by tail and are counted from stats again.
    await producer.request('ingest', { events: blocked(2) });
    await shown(counts, 7);
    assert.equal(await statsToday(producer), 7);
  } finally {
    counter.dispose();
    await client.dispose();
  }
});
