import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, statfs, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { DaemonClient } from '../../daemon/client/daemonClient.ts';
import { AuditError } from '../../daemon/protocol/errors.ts';
import type { Entry } from '../../daemon/protocol/entry.ts';
import type { IngestAck, IngestRejected } from '../../daemon/protocol/messages.ts';
import { startDaemonProcess, type DaemonProcess } from '../support/daemonProcess.ts';

/**
 * Ingest on a real, really full filesystem: a 2 MiB tmpfs (mounting needs root; elsewhere the test is
 * skipped and says why). The checkpoint written at the moment the disk fills is covered by the
 * integrity tests; this one is about ingest: `disk_full` instead of acks, nothing acked lost, reads go
 * on, writing resumes once space returns, and the daemon never exits.
 */

const isRoot = process.getuid?.() === 0;
const skip = process.platform !== 'linux' ? 'needs Linux tmpfs' : isRoot ? false : 'needs root to mount a small tmpfs (run the reliability suite as root)';
if (skip !== false) process.stderr.write(`diskFull.test.ts skipped: ${skip}\n`);

describe('disk full during ingest (2 MiB tmpfs, real daemon process)', { skip }, () => {
  let mountPoint: string;
  let mounted = false;
  let daemon: DaemonProcess | undefined;
  let client: DaemonClient | undefined;

  before(async () => {
    mountPoint = await mkdtemp(join(tmpdir(), 'ai-audit-diskfull-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m,mode=0700', 'tmpfs', mountPoint]);
    mounted = true;
  });
  after(async () => {
    await client?.dispose();
    await daemon?.stop();
    if (mounted) execFileSync('umount', [mountPoint]);
    await rm(mountPoint, { recursive: true, force: true });
  });

  test('disk_full instead of acks, nothing acked lost, reads go on, recovery when space returns, no exit', { timeout: 600_000 }, async () => {
    const home = join(mountPoint, 'home');
    await mkdir(home);
    daemon = await startDaemonProcess(home, { AI_AUDIT_MASTER_KEY: randomBytes(32).toString('base64') });
    client = await daemon.connect();

    // Leave about 256 KiB: the disk fills after a few hundred entries, long before any periodic checkpoint.
    const { bavail, bsize } = await statfs(mountPoint);
    const filler = join(mountPoint, 'filler');
    await writeFile(filler, Buffer.alloc(Math.max(0, bavail * bsize - 256 * 1024)));

    const acked = new Map<string, number>();
    const refused: string[] = [];
    let key = 0;
    const batch = (): Array<Record<string, unknown>> =>
      Array.from({ length: 20 }, () => ({ kind: 'chat.input', idempotency_key: `k${++key}`, metadata: { key: `k${key}`, padding: 'p'.repeat(300) } }));
    const record = (events: Array<Record<string, unknown>>, acks: Array<IngestAck | IngestRejected>): void => {
      acks.forEach((ack, i) => {
        const k = String(events[i]?.idempotency_key);
        if ('seq' in ack) acked.set(k, ack.seq);
        else {
          assert.equal(ack.error.code, 'disk_full', JSON.stringify(ack));
          refused.push(k);
        }
      });
    };

    // Ingest until the disk is full.
    let full = false;
    while (!full) {
      const events = batch();
      try {
        const { acks } = await client.request('ingest', { events });
        record(events, acks);
        full = acks.some((a) => 'error' in a);
      } catch (error: unknown) {
        assert.ok(error instanceof AuditError && error.code === 'disk_full', String(error));
        refused.push(...events.map((e) => String(e.idempotency_key)));
        full = true;
      }
      assert.ok(key < 100_000, 'the disk never filled');
    }
    assert.ok(acked.size > 0, 'some events were stored before the disk filled');

    // Full: ingest is refused, reads go on.
    const health = await client.request('health', {});
    assert.equal(health.disk_full, true);
    assert.equal(health.entries, acked.size);
    const page = await client.request('query', { limit: 5 });
    assert.equal(page.entries.length, 5);
    assert.equal((await client.request('verify', {})).ok, true);
    assert.equal(daemon.child.exitCode, null, 'the daemon is still running');

    // Space returns: the refused events go in when resent with their keys.
    await rm(filler);
    const pending = [...new Set(refused)];
    while (pending.length > 0) {
      const keys = pending.splice(0, 20);
      const events = keys.map((k) => ({ kind: 'chat.input', idempotency_key: k, metadata: { key: k, padding: 'p'.repeat(300) } }));
      try {
        const { acks } = await client.request('ingest', { events });
        acks.forEach((ack, i) => {
          if ('seq' in ack) acked.set(keys[i] as string, ack.seq);
          else pending.push(keys[i] as string);
        });
      } catch (error: unknown) {
        // Refused for a second after the last failed write: wait as told and resend.
        assert.ok(error instanceof AuditError && error.code === 'disk_full', String(error));
        pending.push(...keys);
        await new Promise((resolve) => setTimeout(resolve, Number(error.data?.retry_after_ms ?? 1000)));
      }
    }
    assert.equal((await client.request('health', {})).disk_full, false);

    // Every acked event exactly once, with the seq of its ack; the chain verifies.
    const stored = new Map<string, Entry>();
    let cursor: string | undefined;
    for (;;) {
      const next = await client.request('query', { limit: 1000, ...(cursor === undefined ? {} : { cursor }) });
      for (const entry of next.entries) {
        const k = String((entry.metadata as { key?: string } | undefined)?.key);
        assert.ok(!stored.has(k), `${k} stored twice`);
        stored.set(k, entry);
      }
      if (next.next_cursor === null) break;
      cursor = next.next_cursor;
    }
    assert.equal(stored.size, acked.size);
    for (const [k, seq] of acked) assert.equal(stored.get(k)?.seq, seq, `${k}: acked as seq ${seq}`);
    assert.equal((await client.request('verify', {})).ok, true);
    assert.equal(daemon.child.exitCode, null, 'the daemon never exited');
    await client.dispose();
    client = undefined;
    assert.equal(await daemon.stop(), 0);
    daemon = undefined;
  });
});
