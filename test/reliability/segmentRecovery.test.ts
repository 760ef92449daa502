import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { runCliProcess, startDaemonProcess } from '../support/daemonProcess.ts';
import { tempDir } from '../support/tempDir.ts';
import { reliabilitySize } from './reliabilitySize.ts';
import { segmentFiles } from '../support/segmentFiles.ts';

/*
 * A crash can leave the newest segment file empty or holding part of one line (the daemon died between
 * creating it and writing a whole line: at rotation or at a new UTC day), and damage can cut a segment
 * inside the signed part of the chain. Start must keep the chain going from its true end, and must never
 * reuse a signed seq.
 */

const ENV = { AI_AUDIT_MASTER_KEY: randomBytes(32).toString('base64') };
const EVENTS = reliabilitySize({ ci: 30, full: 2000 });

/** A store of EVENTS entries in several segments, stopped cleanly; returns the first entry's hash. */
async function rotatedStore(home: string, env: NodeJS.ProcessEnv): Promise<string> {
  const daemon = await startDaemonProcess(home, env);
  const client = await daemon.connect();
  try {
    for (let i = 0; i < EVENTS; i += 5) {
      await client.request('ingest', { events: Array.from({ length: 5 }, (_, j) => ({ kind: 'chat.input' as const, input: `prompt ${i + j}` })) });
    }
    return (await client.request('get', { seq: 1 })).entry.hash;
  } finally {
    await client.dispose();
    assert.equal(await daemon.stop(), 0);
  }
}

const nextSegmentName = (files: string[]): string => {
  const last = files.at(-1) ?? '';
  return String(Number(/(\d+)\.jsonl$/.exec(last)?.[1] ?? '0') + 1).padStart(6, '0') + '.jsonl';
};

describe('segment recovery at start', () => {
  const homes: Array<{ dispose(): Promise<void> }> = [];
  after(async () => {
    for (const home of homes) await home.dispose();
  });

  const crashes = {
    'an empty newest segment at rotation': async (home: string, files: string[]) => {
      const path = join(home, dirname(files.at(-1) ?? ''), nextSegmentName(files));
      await writeFile(path, '');
    },
    'an empty newest segment at a new UTC day': async (home: string, files: string[]) => {
      const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10).split('-');
      const dir = join(home, 'entries', ...tomorrow);
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, nextSegmentName(files)), '');
    },
    'a newest segment holding part of its first line, after an empty one': async (home: string, files: string[]) => {
      const dir = join(home, dirname(files.at(-1) ?? ''));
      const empty = nextSegmentName(files);
      await writeFile(join(dir, empty), '');
      await writeFile(join(dir, nextSegmentName([empty])), '{"actor":{"user_id":"half');
    },
  };

  for (const [name, crash] of Object.entries(crashes)) {
    test(`${name}: the chain goes on from the newest complete entry`, async () => {
      const dir = await tempDir('recovery');
      homes.push(dir);
      const home = dir.path;
      const env = { ...ENV, AI_AUDIT_SEGMENT_MAX_BYTES: '2048' };
      const firstHash = await rotatedStore(home, env);
      const files = await segmentFiles(home);
      assert.ok(files.length >= 2, 'the store did not rotate');
      await crash(home, files);

      const daemon = await startDaemonProcess(home, env);
      const client = await daemon.connect();
      try {
        const health = await client.request('health', {});
        assert.equal(health.last_seq, EVENTS);
        assert.equal(health.read_only, undefined);
        const [ack] = (await client.request('ingest', { events: [{ kind: 'chat.input', input: 'after the crash' }] })).acks;
        assert.ok(ack !== undefined && 'seq' in ack);
        assert.equal(ack.seq, EVENTS + 1);
        assert.equal((await client.request('get', { seq: 1 })).entry.hash, firstHash);
        const report = await client.request('verify', {});
        assert.equal(report.ok, true, JSON.stringify(report.problem));
        assert.equal(report.last_seq, EVENTS + 1);
      } finally {
        await client.dispose();
        assert.equal(await daemon.stop(), 0);
      }
      const offline = await runCliProcess(['verify', '--home', home], { env });
      assert.equal(offline.code, 0, offline.stdout);
    });
  }

  test('a segment truncated mid-line inside the signed range: read-only until `ai-audit repair`, and no signed seq is reused', async () => {
    const dir = await tempDir('signed-damage');
    homes.push(dir);
    const home = dir.path;
    let daemon = await startDaemonProcess(home, ENV);
    let client = await daemon.connect();
    await client.request('ingest', { events: Array.from({ length: 5 }, (_, i) => ({ kind: 'chat.input' as const, input: `prompt ${i}` })) });
    await client.dispose();
    assert.equal(await daemon.stop(), 0); // signs seq 5 at stop

    const [segment] = await segmentFiles(home);
    const path = join(home, segment ?? '');
    const lines = (await readFile(path, 'utf8')).split('\n');
    const cutAt = Buffer.byteLength(lines.slice(0, 3).join('\n') + '\n') + 40; // inside entry 4
    await truncate(path, cutAt);

    daemon = await startDaemonProcess(home, ENV);
    client = await daemon.connect();
    try {
      const health = await client.request('health', {});
      assert.equal(health.read_only?.code, 'signed_range_damaged');
      await assert.rejects(client.request('ingest', { events: [{ kind: 'chat.input' }] }), (e: { code?: string }) => e.code === 'read_only');
      assert.equal((await client.request('query', {})).entries.length, 3);
      assert.equal((await client.request('verify', {})).ok, false);
    } finally {
      await client.dispose();
      assert.equal(await daemon.stop(), 0);
    }
    assert.equal((await stat(path)).size, cutAt, 'the damaged bytes were cut off without asking');
    assert.match(daemon.output(), /ai-audit repair/);

    const repair = await runCliProcess(['repair', '--home', home, '--json'], { env: ENV });
    assert.equal(repair.code, 0, repair.stderr);
    const result = JSON.parse(repair.stdout) as { repaired: boolean; kept_through_seq: number; signed_seq: number; set_aside: string };
    assert.equal(result.repaired, true);
    assert.equal(result.kept_through_seq, 3);
    assert.equal(result.signed_seq, 5);
    const kept = await readdir(join(home, result.set_aside));
    assert.ok(kept.includes('repair.json'), `nothing recorded in ${result.set_aside}: ${kept.join(', ')}`);
    assert.equal(kept.length, 2, 'the damaged bytes were not kept');

    daemon = await startDaemonProcess(home, ENV);
    client = await daemon.connect();
    try {
      const [ack] = (await client.request('ingest', { events: [{ kind: 'chat.input', input: 'after the repair' }] })).acks;
      assert.ok(ack !== undefined && 'seq' in ack);
      assert.equal(ack.seq, 6, 'a signed seq was reused');
      const report = await client.request('verify', {});
      assert.equal(report.ok, true, JSON.stringify(report.problem));
    } finally {
      await client.dispose();
      assert.equal(await daemon.stop(), 0);
    }
    const again = await runCliProcess(['repair', '--home', home], { env: ENV });
    assert.equal(again.code, 0);
    assert.match(again.stdout, /nothing to repair/);
  });
});
