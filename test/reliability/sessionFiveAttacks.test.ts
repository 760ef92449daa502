import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { chmod, copyFile, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { codeCachePath } from '../../daemon/cli/codeCache.ts';
import { AuditError } from '../../daemon/protocol/errors.ts';
import type { Entry } from '../../daemon/protocol/entry.ts';
import { decryptField } from '../../daemon/keys/contentCipher.ts';
import { openKeyStore } from '../../daemon/keys/openKeyStore.ts';
import { DaemonState } from '../../daemon/state/daemonState.ts';
import { AuditStore } from '../../daemon/store/auditStore.ts';
import { canonicalJson } from '../../daemon/store/canonicalJson.ts';
import { runCliProcess, startDaemonProcess } from '../support/daemonProcess.ts';
import { copiedInstall } from '../support/copiedInstall.ts';
import { segmentFiles } from '../support/segmentFiles.ts';
import { suiteTempDirs } from '../support/suiteTempDirs.ts';

/*
 * The session-5 fast paths attacked from outside, with real processes, the way someone who read docs/ would:
 * the worker chunks of verify and of encrypted ingest removed from an install, a daemon stopped while verify
 * walks on its workers, and a segment deleted by hand (damage, not retention) under a running daemon.
 */

const MASTER_KEY = randomBytes(32).toString('base64');
const ENV = { AI_AUDIT_MASTER_KEY: MASTER_KEY };
const dir = suiteTempDirs('s5-attacks');
const runFile = promisify(execFile);

/** A store of `events` hash-mode entries in segments of about 32 KB, written by the store's own writer. */
async function storeOf(home: string, events: number): Promise<void> {
  const state = await DaemonState.open(home);
  const keys = await openKeyStore({ home, env: ENV, generation: state.keyGeneration }).load();
  const store = await AuditStore.open({ home, keys, contentMode: () => 'hash', log: () => undefined, segmentMaxBytes: 32 * 1024 });
  for (let i = 0; i < events; i += 100) {
    const batch = Array.from({ length: 100 }, (_, j) => ({ kind: 'chat.input' as const, input: `prompt ${i + j}`, decision: j % 3 === 0 ? 'blocked' : 'allowed', metadata: { n: i + j } }));
    const acks = await store.ingest(batch);
    assert.ok(acks.every((a) => 'seq' in a));
  }
  await store.close();
}

/** A copy of the built CLI without the chunks `without` matches. */
async function installWithout(without: RegExp): Promise<string> {
  const { cli, left_out } = await copiedInstall(await dir('install'), without);
  assert.ok(left_out > 0, `no chunk matches ${String(without)}`);
  return cli;
}

interface Report {
  ok: boolean;
  entries_checked: number;
  last_seq: number | null;
  last_hash: string | null;
  problem: { code: string; seq: number | null; reason: string } | null;
}

async function verifyOffline(home: string, cli?: string): Promise<Report> {
  // Workers for any size, so that this store of ~1 MB is walked on them where the install has them.
  const result = await runCliProcess(['verify', '--home', home, '--json'], { env: { ...ENV, AI_AUDIT_VERIFY_WORKERS: '2' }, ...(cli === undefined ? {} : { cli }) });
  assert.ok(result.code === 0 || result.code === 1, result.stderr);
  return JSON.parse(result.stdout) as Report;
}

/** The threads of process `pid` (Linux), or null where /proc is not there. */
function threadCount(pid: number | undefined): number | null {
  try {
    return readdirSync(`/proc/${pid ?? 0}/task`).length;
  } catch {
    return null;
  }
}

describe('session 5 fast paths attacked with real processes', () => {
  test('verify from an install whose worker chunk was removed reports what the full install reports', async () => {
    const home = await dir('verify-no-worker');
    await storeOf(home, 2_000);
    const cli = await installWithout(/^verify-worker-.*\.cjs$/);
    const whole = await verifyOffline(home);
    assert.equal(whole.ok, true, JSON.stringify(whole.problem));
    assert.deepEqual(await verifyOffline(home, cli), whole);
    // An edit in the second half of the store (a later worker's share), hash left as it was.
    const files = await segmentFiles(home);
    assert.ok(files.length >= 10, `only ${files.length} segments`);
    const target = join(home, files[files.length - 3] ?? '');
    const text = await readFile(target, 'utf8');
    const edited = text.replace('"decision":"blocked"', '"decision":"allowed"');
    assert.notEqual(edited, text);
    await writeFile(target, edited);
    const withWorkers = await verifyOffline(home);
    assert.equal(withWorkers.ok, false);
    assert.equal(withWorkers.problem?.code, 'hash_mismatch');
    assert.deepEqual(await verifyOffline(home, cli), withWorkers);
  });

  test('a daemon whose code cache was planted, linked, made group-writable, taken from the CLI\'s mode or made a FIFO still starts and stores', { skip: process.platform === 'win32' }, async () => {
    const cli = await installWithout(/^azure-.*\.cjs$/);
    const bundle = join(dirname(cli), 'cli-main.cjs');
    const daemonCache = codeCachePath(bundle, 'daemon');
    // A cache of the same bundle made under the CLI's flags (V8 rejects it for the daemon's).
    assert.equal((await runCliProcess(['--version'], { cli })).code, 0);
    const cliCache = codeCachePath(bundle, 'cli');
    const plants: Array<[string, () => Promise<void>]> = [
      ['the CLI\'s cache', () => copyFile(cliCache, daemonCache)],
      ['a link to the CLI\'s cache', () => symlink(cliCache, daemonCache)],
      ['a group-writable copy', async () => {
        await copyFile(cliCache, daemonCache);
        await chmod(daemonCache, 0o664);
      }],
      ['random bytes with a valid-looking header', () => writeFile(daemonCache, Buffer.concat([Buffer.from('AIAUDV8\u0002', 'latin1'), randomBytes(4096)]))],
      ['a FIFO', async () => {
        await runFile('mkfifo', [daemonCache]);
      }],
    ];
    for (const [name, plant] of plants) {
      await rm(daemonCache, { force: true });
      await plant();
      const home = await dir('planted-cache');
      const daemon = await startDaemonProcess(home, ENV, [], { cli });
      try {
        const client = await daemon.connect();
        const { acks } = await client.request('ingest', { events: [{ kind: 'chat.input', input: name }] });
        assert.ok(acks[0] !== undefined && 'seq' in acks[0], name);
        await client.dispose();
      } finally {
        assert.equal(await daemon.stop(), 0, name);
      }
    }
  });

  for (const variant of ['the full install', 'an install without the encryption worker chunk'] as const) {
    test(`encrypted batches large enough for the worker, from ${variant}: every acked event is stored and each field decrypts in its own entry only`, async () => {
      const home = await dir('encrypted');
      const cli = variant === 'the full install' ? undefined : await installWithout(/^cipher-worker-.*\.cjs$/);
      const daemon = await startDaemonProcess(home, ENV, [], cli === undefined ? {} : { cli });
      const sent = new Map<number, { input: string; output: string }>();
      try {
        const client = await daemon.connect();
        // A first small request (written on the ingest thread) starts what a daemon starts on first use.
        await client.request('ingest', { events: [{ kind: 'chat.input', input: 'first' }] });
        const threadsBefore = threadCount(daemon.child.pid);
        for (let round = 0; round < 4; round++) {
          // 100 events, 200 fields: the worker takes half of them (when it is there).
          const events = Array.from({ length: 100 }, (_, i) => ({ kind: 'chat.output', content_mode: 'encrypted', input: `question ${round}.${i} é😀`, output: `answer ${round}.${i}` }));
          const { acks } = await client.request('ingest', { events });
          acks.forEach((ack, i) => {
            assert.ok('seq' in ack, JSON.stringify(ack));
            const event = events[i];
            if (event !== undefined) sent.set(ack.seq, { input: event.input, output: event.output });
          });
        }
        // The built daemon finds its worker chunk beside the bundle: one thread more while it lives (30 s idle).
        if (cli === undefined && threadsBefore !== null) assert.ok((threadCount(daemon.child.pid) ?? 0) > threadsBefore, 'the encryption worker runs');
        await client.dispose();
      } finally {
        assert.equal(await daemon.stop(), 0);
      }
      const log = await readFile(join(home, 'daemon.log'), 'utf8').catch(() => '') + daemon.output();
      if (cli === undefined) assert.doesNotMatch(log, /encryption worker/, 'the built daemon runs its worker');
      else assert.match(log, /encryption worker/, 'the missing worker is logged');
      const state = await DaemonState.open(home);
      const keys = await openKeyStore({ home, env: ENV, generation: state.keyGeneration }).load();
      const entries: Entry[] = [];
      for (const file of await segmentFiles(home)) {
        for (const line of (await readFile(join(home, file), 'utf8')).split('\n')) if (line !== '') entries.push(JSON.parse(line) as Entry);
      }
      let checked = 0;
      for (const entry of entries) {
        const original = sent.get(entry.seq);
        if (original === undefined) continue;
        const { input_enc, output_enc, key_id } = entry.content;
        const key = keys.encryptionKeys.get(key_id ?? '');
        assert.ok(key !== undefined && input_enc !== undefined && output_enc !== undefined, `entry ${entry.seq}`);
        assert.equal(decryptField(key, input_enc, `${entry.id}:input`), original.input);
        assert.equal(decryptField(key, output_enc, `${entry.id}:output`), original.output);
        assert.throws(() => decryptField(key, input_enc, `${entry.id}:output`));
        checked++;
      }
      assert.equal(checked, sent.size, 'every acked event is stored');
      assert.equal((await verifyOffline(home)).ok, true);
    });
  }

  test('events with unusual keys and numbers, sent as raw frames: each stored line is the canonical JSON of its entry, and verify passes', async () => {
    const home = await dir('odd-keys');
    const daemon = await startDaemonProcess(home, ENV);
    try {
      const client = await daemon.connect();
      // Frame texts as a producer in another language could send them: duplicate keys (JSON.parse keeps the
      // last), `__proto__` and `constructor` at several depths, keys the schema does not list, non-ASCII and lone
      // surrogate keys, -0, integers past 2^53, the smallest double, members out of order.
      const events = [
        '{"kind":"chat.input","kind":"chat.output","input":"a","input":"b\\ud800","metadata":{"x":1,"x":2,"constructor":"c","toString":1,"é":"ü","\\ud800":"\\udc00","𝒜":1,"A":-0,"big":12345678901234567890,"tiny":5e-324,"e":1e21}}',
        '{"metadata":{"__proto__":{"polluted":true},"a":{"__proto__":{"x":1},"constructor":{"prototype":1}},"l":[{"__proto__":1},-0]},"kind":"chat.input"}',
        '{"kind":"chat.input","__proto__":{"kind":"chat.output"}}',
        '{"kind":"chat.input","unlisted":1}',
        '{"kind":"chat.input","scan_result":{"categories":{"constructor":1,"b":true,"a":false,"":true},"scores":{"z":-0,"y":1e-7}},"actor":{"workspace":"ü\\u0000\\u2028","user_id":"é"}}',
        '{"kind":"chat.input","content_mode":"encrypted","input":"\\udfff x","output":"😀","timestamp":"2026-01-02T03:04:05.678"}',
      ];
      client.sendRaw(`{"id":900001,"method":"ingest","params":{"events":[${events.join(',')}]}}`);
      for (const [i, event] of events.entries()) client.sendRaw(`{"id":${900_002 + i},"method":"ingest","params":{"events":[${event}]}}`);
      // Batches are written in the order they were queued: this ack comes after every accepted one above.
      const { acks } = await client.request('ingest', { events: [{ kind: 'chat.input', input: 'last' }] });
      const last = acks[0];
      assert.ok(last !== undefined && 'seq' in last);
      // The daemon refuses `__proto__` keys and members the schema does not list (events 2–4); the 3 others go in.
      assert.ok(last.seq >= 2 * 3 + 1, `only ${last.seq - 1} of the odd events were stored`);
      await client.dispose();
    } finally {
      assert.equal(await daemon.stop(), 0);
    }
    let lines = 0;
    for (const file of await segmentFiles(home)) {
      for (const line of (await readFile(join(home, file), 'utf8')).split('\n')) {
        if (line === '') continue;
        const entry = JSON.parse(line) as Entry & Record<string, unknown>;
        assert.equal(line, canonicalJson(entry), 'stored as its canonical JSON');
        assert.ok(!('__proto__' in entry && Object.hasOwn(entry, '__proto__')), 'no own __proto__ member');
        lines++;
      }
    }
    assert.ok(lines >= 7);
    assert.equal((await verifyOffline(home)).ok, true);
  });

  test('stopping the daemon while verify walks on its workers ends the verify, and the daemon exits cleanly', async () => {
    const home = await dir('verify-stop');
    await storeOf(home, 3_000);
    const daemon = await startDaemonProcess(home, { ...ENV, AI_AUDIT_VERIFY_WORKERS: '2' });
    const client = await daemon.connect();
    const verify = client.request('verify', {}).then(
      (report) => ({ report }),
      (error: unknown) => ({ error }),
    );
    // The request is on its way (a frame sent before the signal); wherever the walk is, the stop must end it.
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(await daemon.stop(), 0);
    const outcome = await verify;
    if ('error' in outcome) assert.ok(outcome.error instanceof Error);
    else assert.equal(outcome.report.ok, true);
    await client.dispose();
    assert.equal((await verifyOffline(home)).ok, true);
  });

  test('a segment deleted by hand under a running daemon is not skipped as if retention had removed it', async () => {
    const home = await dir('hand-deleted');
    await storeOf(home, 2_000);
    const daemon = await startDaemonProcess(home, ENV);
    try {
      const client = await daemon.connect();
      const files = await segmentFiles(home);
      const middle = files[Math.floor(files.length / 2)] ?? '';
      const first = JSON.parse((await readFile(join(home, middle), 'utf8')).split('\n')[0] ?? '') as Entry;
      await rm(join(home, middle));
      // Every page of a full read, newest first: it must stop with an error, not hand out a store with a hole.
      const seen = new Set<number>();
      const paged = (async () => {
        let cursor: string | undefined;
        for (;;) {
          const page = await client.request('query', { limit: 100, ...(cursor === undefined ? {} : { cursor }) });
          for (const entry of page.entries) seen.add(entry.seq);
          if (page.next_cursor === null) return;
          cursor = page.next_cursor;
        }
      })();
      await assert.rejects(paged, (error: unknown) => error instanceof AuditError && error.code !== 'not_found', `read ${seen.size} entries and ended`);
      await assert.rejects(client.request('get', { seq: first.seq }), (error: unknown) => error instanceof AuditError && error.code !== 'not_found');
      const report = await client.request('verify', {});
      assert.equal(report.ok, false);
      await client.dispose();
    } finally {
      await daemon.stop();
    }
  });
});
