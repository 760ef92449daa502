import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DaemonState, STATE_FILE } from '../../../daemon/state/daemonState.ts';
import { StateFileError } from '../../../daemon/state/stateFile.ts';
import { filesUnder } from '../../support/filesUnder.ts';
import { runCliProcess, startDaemonProcess } from '../../support/daemonProcess.ts';
import { tempDir } from '../../support/tempDir.ts';

const posix = process.platform !== 'win32';

/** Every file of the store with its size: what a retention run would change. */
async function storeFiles(dir: string): Promise<Array<[string, number]>> {
  const files = (await filesUnder(dir)).sort();
  return Promise.all(files.map(async (file): Promise<[string, number]> => [file, (await stat(file)).size]));
}

async function mode(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

describe('state.json', () => {
  let home: { path: string; dispose(): Promise<void> };
  before(async () => {
    home = await tempDir('state');
  });
  after(async () => {
    await home?.dispose();
  });

  test('is 0600 from its first write and after every later write, under a umask that makes files 0644', { skip: posix ? false : 'POSIX modes' }, async () => {
    const dir = join(home.path, 'umask');
    await mkdir(dir, { mode: 0o755 });
    await chmod(dir, 0o755);
    const previous = process.umask(0o022);
    try {
      const state = await DaemonState.open(dir);
      assert.equal(await mode(join(dir, STATE_FILE)), 0o600, 'after the first write');
      await state.updateSettings({ retention_days: 30 });
      assert.equal(await mode(join(dir, STATE_FILE)), 0o600, 'after a settings change');
      await state.keyGeneration.write(2);
      assert.equal(await mode(join(dir, STATE_FILE)), 0o600, 'after a key generation change');
      assert.deepEqual(JSON.parse(await readFile(join(dir, STATE_FILE), 'utf8')), {
        version: 1,
        settings: { content_mode: 'hash', retention_days: 30 },
        key_generation: 2,
      });
      assert.deepEqual(await readdir(dir), [STATE_FILE], 'no temporary file is left behind');
    } finally {
      process.umask(previous);
    }
  });

  test('fills in what an older file lacks and keeps keys it does not know', async () => {
    const dir = join(home.path, 'older');
    await mkdir(dir);
    await writeFile(join(dir, STATE_FILE), JSON.stringify({ settings: { retention_days: 7 }, destinations: [{ name: 'x' }] }));
    const state = await DaemonState.open(dir);
    assert.deepEqual(state.settings, { content_mode: 'hash', retention_days: 7 });
    assert.deepEqual(JSON.parse(await readFile(join(dir, STATE_FILE), 'utf8')).destinations, [{ name: 'x' }]);
  });

  const invalid: Array<[string, unknown, string]> = [
    ['a negative retention', { version: 1, settings: { content_mode: 'hash', retention_days: -5 }, key_generation: 1 }, 'settings.retention_days'],
    ['an unknown content mode', { version: 1, settings: { content_mode: 'plaintext', retention_days: 90 }, key_generation: 1 }, 'settings.content_mode'],
    ['an unknown settings key', { version: 1, settings: { retention_days: 90, upload_to: 'x' }, key_generation: 1 }, 'settings'],
    ['a fractional key generation', { version: 1, settings: {}, key_generation: 1.5 }, 'key_generation'],
    ['another version', { version: 2, settings: {}, key_generation: 1 }, 'version'],
  ];
  for (const [name, content, field] of invalid) {
    test(`refuses ${name}, naming the file and the field, and leaves the file as it was`, async () => {
      const dir = await mkdtemp(join(home.path, 'invalid-'));
      const text = JSON.stringify(content);
      await writeFile(join(dir, STATE_FILE), text);
      await assert.rejects(DaemonState.open(dir), (error: unknown) => {
        assert.ok(error instanceof StateFileError);
        assert.equal(error.code, 'state_invalid');
        assert.equal(error.field, field);
        assert.ok(error.message.includes(join(dir, STATE_FILE)), error.message);
        assert.ok(error.message.includes(field), error.message);
        return true;
      });
      assert.equal(await readFile(join(dir, STATE_FILE), 'utf8'), text);
    });
  }

  test('a file that is not JSON is an error naming the file', async () => {
    const dir = await mkdtemp(join(home.path, 'garbage-'));
    await writeFile(join(dir, STATE_FILE), '{"settings": {"retention_d\u0000\u0001');
    await assert.rejects(DaemonState.open(dir), (error: unknown) => {
      assert.ok(error instanceof StateFileError);
      assert.equal(error.code, 'state_unparseable');
      assert.equal(error.field, null);
      assert.ok(error.message.includes(join(dir, STATE_FILE)), error.message);
      return true;
    });
  });

  test('a daemon refuses to start on retention_days -5 and drops nothing (real daemon process)', { timeout: 120_000 }, async () => {
    const dir = join(home.path, 'daemon');
    const env = { AI_AUDIT_MASTER_KEY: randomBytes(32).toString('base64'), AI_AUDIT_SEGMENT_MAX_BYTES: '4096' };
    const daemon = await startDaemonProcess(dir, env);
    const client = await daemon.connect();
    // Segments rotate between batches: several small batches make several closed segments.
    for (let batch = 0; batch < 6; batch++) {
      await client.request('ingest', { events: Array.from({ length: 10 }, (_, i) => ({ kind: 'chat.input', metadata: { i, padding: 'x'.repeat(400) } })) });
    }
    await client.dispose();
    assert.equal(await daemon.stop(), 0);
    const before = await storeFiles(join(dir, 'entries'));
    assert.ok(before.length > 2, 'several closed segments, which retention -5 would drop');
    const state = JSON.parse(await readFile(join(dir, STATE_FILE), 'utf8')) as { settings: Record<string, unknown> };
    state.settings.retention_days = -5;
    await writeFile(join(dir, STATE_FILE), JSON.stringify(state));

    const run = await runCliProcess(['daemon', '--home', dir], { env });
    assert.equal(run.code, 2, run.stderr);
    assert.ok(run.stderr.includes(join(dir, STATE_FILE)), run.stderr);
    assert.ok(run.stderr.includes('settings.retention_days'), run.stderr);
    assert.deepEqual(await storeFiles(join(dir, 'entries')), before);
    await assert.rejects(stat(join(dir, 'daemon.json')), { code: 'ENOENT' });
  });
});
