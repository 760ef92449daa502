import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, readFile, rm, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { DaemonClient } from '../../../daemon/client/daemonClient.ts';
import { openKeyStore } from '../../../daemon/keys/openKeyStore.ts';
import { DaemonState } from '../../../daemon/state/daemonState.ts';
import { AuditStore } from '../../../daemon/store/auditStore.ts';
import { runCliProcess, startDaemonProcess } from '../../support/daemonProcess.ts';
import { recordingWitness } from '../../support/recordingWitness.ts';
import { segmentFiles } from '../../support/segmentFiles.ts';
import { tempDir } from '../../support/tempDir.ts';

const ENV = { AI_AUDIT_MASTER_KEY: randomBytes(32).toString('base64') };

describe('CheckpointWitness', () => {
  const homes: Array<{ dispose(): Promise<void> }> = [];
  after(async () => {
    for (const home of homes) await home.dispose();
  });

  test('an alarm the daemon cannot record (read-only) is kept and sent on the next connect, once', async () => {
    const dir = await tempDir('witness');
    homes.push(dir);
    const home = dir.path;
    const { witness, warnings } = recordingWitness(home);

    let daemon = await startDaemonProcess(home, ENV);
    let client = await daemon.connect();
    await client.request('ingest', { events: Array.from({ length: 6 }, (_, i) => ({ kind: 'chat.input' as const, input: `prompt ${i}` })) });
    await client.dispose();
    await daemon.stop(); // signs seq 6
    daemon = await startDaemonProcess(home, ENV);
    client = await daemon.connect();
    await witness.check(client);
    assert.equal(witness.remembered?.seq, 6);
    assert.equal(warnings.length, 0);
    await client.dispose();
    await daemon.stop();

    // Damage inside the signed range: the daemon starts read-only, so it cannot take the report.
    const [day] = await readdir(join(home, 'entries'));
    const file = await findSegment(join(home, 'entries', day ?? ''));
    const text = await readFile(file, 'utf8');
    await truncate(file, text.indexOf('\n') + 10);
    daemon = await startDaemonProcess(home, ENV);
    client = await daemon.connect();
    await witness.check(client);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? '', /ends at seq 1, but seq 6 was signed/);
    await client.dispose();
    await daemon.stop();

    const repair = await runCliProcess(['repair', '--home', home], { env: ENV });
    assert.equal(repair.code, 0, repair.stderr);
    daemon = await startDaemonProcess(home, ENV);
    client = await daemon.connect();
    try {
      await witness.check(client);
      const recorded = await client.request('query', { filter: { kind: 'audit.witness' } });
      assert.equal(recorded.entries.length, 1, 'the kept alarm was not sent');
      assert.equal(recorded.entries[0]?.decision, 'error');
      assert.equal((recorded.entries[0]?.audit as { witness?: string } | undefined)?.witness, 'vscode-extension', 'the entry names the witness');
      assert.equal(warnings.length, 1, 'the same finding alarmed twice');
      await witness.check(client);
      assert.equal((await client.request('query', { filter: { kind: 'audit.witness' } })).entries.length, 1);
    } finally {
      witness.dispose();
      await client.dispose();
      await daemon.stop();
    }
  });

  test('a connected witness looks again and keeps up with new checkpoints', async () => {
    const dir = await tempDir('witness-live');
    homes.push(dir);
    const { witness } = recordingWitness(dir.path, { recheckMs: 100 });
    const daemon = await startDaemonProcess(dir.path, ENV);
    const client = await daemon.connect();
    try {
      const seen = (): number | undefined => witness.remembered?.seq;
      await witness.check(client);
      assert.equal(seen(), undefined);
      await client.request('ingest', { events: [{ kind: 'chat.input' }, { kind: 'chat.input' }] });
      await client.request('keys.rotate', {}); // records audit.keys.rotate (seq 3) and signs the end at once
      for (let i = 0; i < 100 && seen() !== 3; i++) await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(seen(), 3);
    } finally {
      witness.dispose();
      await client.dispose();
      await daemon.stop();
    }
  });

  for (const dropped of ['by retention', 'by an attacker'] as const) {
    test(`the remembered checkpoint's entry removed ${dropped}: ${dropped === 'by retention' ? 'no alarm' : 'an alarm'}`, async () => {
      const dir = await tempDir('witness-gone');
      homes.push(dir);
      const home = dir.path;
      const { witness, warnings } = recordingWitness(home);
      await oldSegment(home, 3); // seq 1–3 in a segment of ten days ago, signed at seq 3

      let daemon = await startDaemonProcess(home, ENV);
      let client = await daemon.connect();
      await witness.check(client);
      assert.equal(witness.remembered?.seq, 3);
      await client.request('ingest', { events: [{ kind: 'chat.input' }, { kind: 'chat.input' }] }); // today's segment
      await client.dispose();
      await daemon.stop(); // signs the end
      assert.equal((await segmentFiles(home)).length, 2);

      daemon = await startDaemonProcess(home, ENV);
      client = await daemon.connect();
      try {
        if (dropped === 'by retention') {
          const run = await client.request('retention.run', { older_than_days: 5 });
          assert.equal(run.dropped_entries, 3);
        } else {
          // The attack: the old segment goes, and nothing signed vouches for its removal.
          await client.dispose();
          await daemon.stop();
          const [first] = await segmentFiles(home);
          await rm(join(home, first ?? ''));
          await rm(join(home, (first ?? '').replace(/\.jsonl$/, '.summary.json')), { force: true });
          daemon = await startDaemonProcess(home, ENV);
          client = await daemon.connect();
        }
        await assert.rejects(client.request('get', { seq: 3 }), (error: unknown) => (error as { code?: string }).code === 'not_found');
        const verifies = countVerifies(client);
        await witness.check(client);
        if (dropped === 'by retention') {
          assert.deepEqual(warnings, []);
          assert.equal(verifies(), 1, 'the anchor was not checked with verify');
          await witness.check(client); // the recheck before the next checkpoint
          assert.deepEqual(warnings, []);
          assert.equal(verifies(), 1, 'the anchor checked already was verified again');
          await client.request('keys.rotate', {}); // signs the end at once
          await witness.check(client);
          assert.deepEqual(warnings, []);
          assert.ok((witness.remembered?.seq ?? 0) > 3, 'the witness did not move on past the anchor');
        } else {
          assert.equal(warnings.length, 1, 'a removal without a signed anchor passed as retention');
          assert.match(warnings[0] ?? '', /no signed retention anchor covers it/);
          assert.equal(witness.remembered?.seq, 3);
        }
      } finally {
        witness.dispose();
        await client.dispose();
        await daemon.stop();
      }
    });
  }
});

/** Counts the `verify` requests sent through `client` from now on (the daemon still answers each). */
function countVerifies(client: DaemonClient): () => number {
  let count = 0;
  const request = client.request.bind(client);
  client.request = ((method, params) => {
    if (method === 'verify') count++;
    return request(method, params);
  }) as DaemonClient['request'];
  return () => count;
}

/** A store whose first `count` entries were recorded ten days ago (so they sit in their own, older segment), signed. */
async function oldSegment(home: string, count: number): Promise<void> {
  const state = await DaemonState.open(home);
  const keys = await openKeyStore({ home, env: ENV, generation: state.keyGeneration }).load();
  const clock = Date.now() - 10 * 86_400_000;
  const store = await AuditStore.open({ home, keys, contentMode: () => 'hash', log: () => undefined, now: () => clock });
  await store.ingest(Array.from({ length: count }, (_, i) => ({ kind: 'chat.input' as const, input: `old ${i}`, ts: new Date(clock).toISOString() })));
  await store.close();
}

async function findSegment(dir: string): Promise<string> {
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name.endsWith('.jsonl')) return join(entry.parentPath, entry.name);
  }
  throw new Error(`no segment below ${dir}`);
}
