import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, readFile, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { CheckpointWitness, type WitnessMemory } from '../../../extension/daemon/checkpointWitness.ts';
import { runCliProcess, startDaemonProcess } from '../../support/daemonProcess.ts';
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
    const memory = new Map<string, unknown>();
    const store: WitnessMemory = { get: <T>(key: string) => memory.get(key) as T | undefined, update: async (key, value) => void memory.set(key, value) };
    const warnings: string[] = [];
    const witness = new CheckpointWitness({ home, memory: store, warn: (m) => warnings.push(m), log: () => undefined });

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
    const memory = new Map<string, unknown>();
    const store: WitnessMemory = { get: <T>(key: string) => memory.get(key) as T | undefined, update: async (key, value) => void memory.set(key, value) };
    const witness = new CheckpointWitness({ home: dir.path, memory: store, warn: () => undefined, log: () => undefined, recheckMs: 100 });
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
});

async function findSegment(dir: string): Promise<string> {
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name.endsWith('.jsonl')) return join(entry.parentPath, entry.name);
  }
  throw new Error(`no segment below ${dir}`);
}
