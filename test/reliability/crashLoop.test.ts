import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { ConnectError, type DaemonClient } from '../../daemon/client/daemonClient.ts';
import { AuditError, ErrorCodes } from '../../daemon/protocol/errors.ts';
import type { IngestAck, IngestRejected } from '../../daemon/protocol/messages.ts';
import { listSegments } from '../../daemon/store/segmentPaths.ts';
import { runCliProcess, startDaemonProcess, type DaemonProcess } from '../support/daemonProcess.ts';
import { tempDir } from '../support/tempDir.ts';
import { reliabilitySize } from './reliabilitySize.ts';

/** Kill/restart cycles (issue 9: CI 10, full 50). */
const ITERATIONS = reliabilitySize({ ci: 10, full: 50 });
/** Small enough that a segment holds a dozen entries: most batches are near a rotation. */
const SEGMENT_MAX_BYTES = 6 * 1024;
/** A kill in "random" mode lands this long (at most) after the first ack of the cycle, in ms. */
const MAX_KILL_DELAY_MS = 400;

interface PendingEvent {
  kind: 'chat.input';
  input: string;
  idempotency_key: string;
  metadata: { producer: string; n: number };
}

/**
 * One client as the extension behaves: every event carries an idempotency key, and an event whose ack
 * did not arrive (the connection died) is sent again, with the same key, to the next daemon.
 */
class Producer {
  readonly name: string;
  private next = 0;
  /** Sent, not (yet) acknowledged: resent first on the next connection. */
  readonly unacked = new Map<string, PendingEvent>();
  readonly acked = new Map<string, IngestAck>();
  /** Anything other than "the connection to a killed daemon closed". */
  readonly unexpected: string[] = [];
  private onAck: (() => void) | null = null;

  constructor(name: string) {
    this.name = name;
  }

  /** Resolves at this producer's next ack (so that a kill lands while ingest is under way). */
  nextAck(): Promise<void> {
    return new Promise((resolve) => (this.onAck = resolve));
  }

  /** Sends until the connection dies (or, with `untilDrained`, until nothing is left unacknowledged). */
  async run(daemon: DaemonProcess, options: { untilDrained?: boolean } = {}): Promise<void> {
    let client: DaemonClient;
    try {
      client = await daemon.connect();
    } catch (error: unknown) {
      if (error instanceof ConnectError) return; // killed before we got in
      throw error;
    }
    try {
      for (;;) {
        const resend = [...this.unacked.values()];
        if (options.untilDrained === true && resend.length === 0) return;
        const fresh = options.untilDrained === true ? [] : Array.from({ length: randomInt(1, 9) }, () => this.newEvent());
        const events = [...resend, ...fresh];
        let acks: Array<IngestAck | IngestRejected>;
        try {
          ({ acks } = await client.request('ingest', { events }));
        } catch (error: unknown) {
          if (error instanceof AuditError && error.code === ErrorCodes.ShuttingDown) return;
          this.unexpected.push(`ingest failed: ${String(error)}`);
          return;
        }
        acks.forEach((ack, i) => this.record(events[i], ack));
        this.onAck?.();
      }
    } finally {
      await client.dispose().catch(() => undefined);
    }
  }

  private newEvent(): PendingEvent {
    const n = this.next++;
    const event: PendingEvent = {
      kind: 'chat.input',
      input: `${this.name} says ${n}`,
      idempotency_key: `${this.name}-${n}`,
      metadata: { producer: this.name, n },
    };
    this.unacked.set(event.idempotency_key, event);
    return event;
  }

  private record(event: PendingEvent | undefined, ack: IngestAck | IngestRejected): void {
    if (event === undefined) return void this.unexpected.push('more acks than events');
    if ('error' in ack) return void this.unexpected.push(`${event.idempotency_key} rejected: ${ack.error.code} ${ack.error.message}`);
    const earlier = this.acked.get(event.idempotency_key);
    if (earlier !== undefined && (earlier.seq !== ack.seq || earlier.id !== ack.id)) {
      this.unexpected.push(`${event.idempotency_key} acked twice differently: seq ${earlier.seq} then ${ack.seq}`);
    }
    this.acked.set(event.idempotency_key, { seq: ack.seq, id: ack.id });
    this.unacked.delete(event.idempotency_key);
  }
}

/** Resolves on the first new `.jsonl` file in the folder of the newest segment (a rotation). */
function nextSegmentCreated(folder: string): { created: Promise<void>; dispose(): void } {
  let watcher: FSWatcher | null = null;
  const created = new Promise<void>((resolve) => {
    try {
      watcher = watch(folder, (_event, name) => {
        if (typeof name === 'string' && name.endsWith('.jsonl')) resolve();
      });
      watcher.on('error', () => undefined);
    } catch {
      // The folder vanished (a UTC day change): the fallback delay kills instead.
    }
  });
  return { created, dispose: () => watcher?.close() };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test(`crash loop: ${ITERATIONS} × SIGKILL during ingest from 2 clients; every acked event present exactly once, verify passes`, async (t) => {
  const home = await tempDir('crash-loop');
  const env = { AI_AUDIT_MASTER_KEY: randomBytes(32).toString('base64'), AI_AUDIT_SEGMENT_MAX_BYTES: String(SEGMENT_MAX_BYTES) };
  const producers = [new Producer('a'), new Producer('b')];
  const counts = { kills: 0, atRotation: 0, emptyNewestSegment: 0, resent: 0 };
  let daemon: DaemonProcess | null = null;
  try {
    for (let i = 0; i < ITERATIONS; i++) {
      counts.resent += producers.reduce((n, p) => n + p.unacked.size, 0);
      daemon = await startDaemonProcess(home.path, env);
      const maxAcked = Math.max(0, ...producers.flatMap((p) => [...p.acked.values()].map((a) => a.seq)));
      const check = await daemon.connect();
      const health = await check.request('health', {});
      const report = await check.request('verify', {});
      await check.dispose();
      const context = `restart ${i} after ${counts.kills} kills (${counts.emptyNewestSegment} left an empty newest segment)`;
      assert.ok(health.last_seq >= maxAcked, `${context}: the daemon resumed at last_seq ${health.last_seq}, but seq ${maxAcked} was acknowledged`);
      assert.equal(report.ok, true, `${context}: ${JSON.stringify(report.problem)}`);

      // Half the kills wait for a rotation to begin (a new segment file), the others land at a random moment.
      const segments = await listSegments(home.path);
      const newest = segments.at(-1);
      const atRotation = i % 2 === 1 && newest !== undefined;
      const ingesting = Promise.race(producers.map((p) => p.nextAck()));
      const running = producers.map((p) => p.run(daemon as DaemonProcess));
      await Promise.race([ingesting, sleep(5000)]);
      const rotation = atRotation ? nextSegmentCreated(dirname(join(home.path, newest.file))) : null;
      const delay = sleep(atRotation ? 3000 : randomInt(0, MAX_KILL_DELAY_MS));
      await (rotation === null ? delay : Promise.race([rotation.created.then(() => (counts.atRotation += 1)), delay]));
      await daemon.kill9();
      rotation?.dispose();
      counts.kills++;
      await Promise.all(running);
      const after = await listSegments(home.path);
      const last = after.at(-1);
      if (last !== undefined && after.length > 1 && (await stat(join(home.path, last.file))).size === 0) counts.emptyNewestSegment++;
      for (const p of producers) assert.deepEqual(p.unexpected, [], `producer ${p.name}`);
    }

    // A last daemon receives what is still unacknowledged, then everything is checked.
    daemon = await startDaemonProcess(home.path, env);
    await Promise.all(producers.map((p) => p.run(daemon as DaemonProcess, { untilDrained: true })));
    for (const p of producers) {
      assert.deepEqual(p.unexpected, [], `producer ${p.name}`);
      assert.equal(p.unacked.size, 0, `producer ${p.name} could not deliver everything`);
    }
    const client = await daemon.connect();
    const stored = new Map<string, Array<{ seq: number; id: string }>>();
    let cursor: string | undefined;
    do {
      const page = await client.request('query', { limit: 1000, ...(cursor === undefined ? {} : { cursor }) });
      for (const entry of page.entries) {
        if (entry.idempotency_key === undefined) continue;
        const list = stored.get(entry.idempotency_key) ?? [];
        list.push({ seq: entry.seq, id: entry.id });
        stored.set(entry.idempotency_key, list);
      }
      cursor = page.next_cursor ?? undefined;
    } while (cursor !== undefined);
    let acked = 0;
    for (const p of producers) {
      for (const [key, ack] of p.acked) {
        acked++;
        assert.deepEqual(stored.get(key), [{ seq: ack.seq, id: ack.id }], `event ${key}: acknowledged once as seq ${ack.seq}, stored exactly once there`);
      }
    }
    assert.equal(stored.size, acked, 'the store holds no event that was never acknowledged');
    const report = await client.request('verify', {});
    assert.equal(report.ok, true, JSON.stringify(report.problem));
    await client.dispose();
    assert.equal(await daemon.stop(), 0);
    daemon = null;
    const offline = await runCliProcess(['verify', '--home', home.path], { env });
    assert.equal(offline.code, 0, offline.stdout + offline.stderr);
    const segments = (await listSegments(home.path)).length;
    t.diagnostic(
      `crash loop: ${counts.kills} kills (${counts.atRotation} at a rotation, ${counts.emptyNewestSegment} left an empty newest segment), ` +
        `${acked} events acked exactly once, ${counts.resent} resent after a kill, ${report.entries_checked} entries in ${segments} segments verified`,
    );
  } finally {
    await daemon?.kill9();
    await home.dispose();
  }
});
