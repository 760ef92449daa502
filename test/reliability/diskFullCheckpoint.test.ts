import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { AuditError } from '../../daemon/protocol/errors.ts';
import { startDaemonProcess } from '../support/daemonProcess.ts';
import { reliabilitySize } from './reliabilitySize.ts';

/*
 * A full disk at the moment of a signed checkpoint (issue 9 item 5): on a real 2 MiB tmpfs, with a checkpoint
 * after every entry, the disk is filled and freed one page at a time until a checkpoint write has failed.
 * The daemon must stay up, acknowledge nothing it did not store, retry the checkpoint, and verify afterwards.
 */

const PAGE = 4096;
const ENV = { AI_AUDIT_MASTER_KEY: randomBytes(32).toString('base64'), AI_AUDIT_CHECKPOINT_EVERY: '1' };

function whyNot(): string | false {
  if (process.platform !== 'linux') return 'needs Linux tmpfs';
  if (process.getuid?.() !== 0) return 'needs root to mount a small tmpfs (mount -t tmpfs -o size=2m)';
  return false;
}

describe('disk full at the checkpoint moment', () => {
  test('a failed checkpoint is logged and retried; the daemon never exits on a full disk', { skip: whyNot() }, async (t) => {
    const mountPoint = await mkdtemp(join(tmpdir(), 'ai-audit-tmpfs-'));
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mountPoint], { stdio: 'pipe' });
    } catch (error: unknown) {
      await rm(mountPoint, { recursive: true, force: true });
      t.skip(`cannot mount a tmpfs here: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`);
      return;
    }
    const home = join(mountPoint, 'home');
    const fillers: string[] = [];
    const daemon = await startDaemonProcess(home, ENV).catch(async (error: unknown) => {
      execFileSync('umount', [mountPoint]);
      throw error;
    });
    try {
      const client = await daemon.connect();
      const acked = new Map<string, number>();
      let next = 0;
      const ingestOne = async (): Promise<'ack' | 'full'> => {
        const key = `event-${next++}`;
        try {
          const [result] = (await client.request('ingest', { events: [{ kind: 'chat.input', input: `prompt ${key}`, idempotency_key: key }] })).acks;
          if (result !== undefined && 'seq' in result) {
            acked.set(key, result.seq);
            return 'ack';
          }
          assert.equal(result?.error.code, 'disk_full', JSON.stringify(result));
          return 'full';
        } catch (error: unknown) {
          if (error instanceof AuditError && error.code === 'disk_full') return 'full';
          throw error;
        }
      };
      for (let i = 0; i < 10; i++) assert.equal(await ingestOne(), 'ack');

      // Fill every free page.
      await mkdir(join(mountPoint, 'filler'));
      for (;;) {
        const path = join(mountPoint, 'filler', String(fillers.length));
        try {
          await writeFile(path, Buffer.alloc(PAGE, 1));
          fillers.push(path);
        } catch (error: unknown) {
          if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
          await rm(path, { force: true });
          break;
        }
      }

      const rounds = reliabilitySize({ ci: 300, full: 1500 });
      let checkpointFailures = 0;
      let fullAnswers = 0;
      for (let round = 0; round < rounds; round++) {
        assert.equal(daemon.child.exitCode, null, `the daemon exited: ${daemon.output()}`);
        const outcome = await ingestOne();
        if (outcome === 'full') {
          fullAnswers++;
          // Give back one page after the daemon's retry delay.
          await new Promise((resolve) => setTimeout(resolve, 1100));
          const page = fillers.pop();
          if (page !== undefined) await rm(page);
        }
        checkpointFailures = (daemon.output().match(/checkpoint at seq \d+ failed/g) ?? []).length;
        if (checkpointFailures > 0 && outcome === 'ack' && fullAnswers > 0 && round > 20) break;
      }
      assert.ok(checkpointFailures > 0, `no checkpoint write met the full disk in ${rounds} rounds:\n${daemon.output()}`);
      assert.ok(fullAnswers > 0, 'ingest never reported disk_full');

      // Space returns: ingest resumes, every acknowledged event is there exactly once, and the chain verifies.
      for (const page of fillers.splice(0)) await rm(page);
      await new Promise((resolve) => setTimeout(resolve, 1100));
      for (let i = 0; i < 5; i++) assert.equal(await ingestOne(), 'ack');
      const stored = new Map<string, number>();
      let cursor: string | undefined;
      do {
        const page = await client.request('query', { limit: 1000, ...(cursor === undefined ? {} : { cursor }) });
        for (const entry of page.entries) {
          if (entry.idempotency_key === undefined) continue;
          assert.equal(stored.has(entry.idempotency_key), false, `${entry.idempotency_key} stored twice`);
          stored.set(entry.idempotency_key, entry.seq);
        }
        cursor = page.next_cursor ?? undefined;
      } while (cursor !== undefined);
      for (const [key, seq] of acked) assert.equal(stored.get(key), seq, `acknowledged ${key} (seq ${seq}) is missing`);
      const report = await client.request('verify', {});
      assert.equal(report.ok, true, JSON.stringify(report.problem));
      await client.dispose();
      assert.equal(await daemon.stop(), 0, daemon.output());
      assert.equal(existsSync(join(home, 'daemon.json')), false);
    } finally {
      await daemon.kill9();
      execFileSync('umount', [mountPoint]);
      await rm(mountPoint, { recursive: true, force: true });
    }
  });
});
