import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { execFile } from 'node:child_process';
import { link, lstat, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { codeCachePath } from '../../daemon/cli/codeCache.ts';
import { openKeyStore } from '../../daemon/keys/openKeyStore.ts';
import { AuditError } from '../../daemon/protocol/errors.ts';
import { DaemonState } from '../../daemon/state/daemonState.ts';
import { AuditStore } from '../../daemon/store/auditStore.ts';
import { copiedInstall } from '../support/copiedInstall.ts';
import { segmentFiles } from '../support/segmentFiles.ts';
import { describe, test } from 'node:test';
import { runCliProcess, startDaemonProcess } from '../support/daemonProcess.ts';
import { filesUnder } from '../support/filesUnder.ts';
import { NO_AWS_DEFAULT_CREDENTIALS } from '../support/noAwsDefaultCredentials.ts';
import { suiteTempDirs } from '../support/suiteTempDirs.ts';

/*
 * The session-6 changes attacked from outside, with real processes, the way someone who read docs/ would:
 * failed export runs that now keep their reason and message (a destination whose error answers echo what it
 * was sent), idempotency keys chosen so that their digests share the 4 bytes the window now keeps beside its
 * slots, ...
 */

const MASTER_KEY = randomBytes(32).toString('base64');
const dir = suiteTempDirs('s6-attacks');
const runFile = promisify(execFile);

/** A copy of the built CLI, as an install the attacker can write into. */
async function copiedCli(): Promise<string> {
  return (await copiedInstall(await dir('install'))).cli;
}

/** The pid of a process that has ended. */
async function deadPid(): Promise<number> {
  const child = execFile(process.execPath, ['-e', '']);
  await new Promise((resolve) => child.once('exit', resolve));
  assert.ok(child.pid !== undefined);
  return child.pid;
}

/** An "S3 endpoint" that refuses every request and puts what it received (credentials included) into its error answer. */
async function echoingEndpoint(): Promise<{ url: string; requests: number; close(): Promise<void> }> {
  const state = { requests: 0 };
  const server: Server = createServer((request: IncomingMessage, response) => {
    state.requests++;
    request.resume();
    const token = String(request.headers['x-amz-security-token'] ?? 'none');
    const authorization = String(request.headers.authorization ?? 'none');
    const body =
      `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${token}</Code>` +
      `<Message>you sent ${authorization} with ${token} to ${request.url ?? ''}</Message>` +
      `<RequestId>${token}</RequestId><HostId>${token}</HostId></Error>`;
    // A HEAD (does the object exist?) is answered "no" once, so that the export goes on to write and reads the body.
    const head = request.method === 'HEAD' && state.requests % 2 === 1;
    response.writeHead(head ? 404 : 400, { 'content-type': 'application/xml', 'x-amz-request-id': token, 'x-amz-id-2': token });
    response.end(request.method === 'HEAD' ? undefined : body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get requests() {
      return state.requests;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('session 6 changes attacked with real processes', () => {
  test('a destination that echoes the session token in its error code, request id and message: the token is in no run record, CLI output, log or file', async () => {
    const home = await dir('echo');
    const endpoint = await echoingEndpoint();
    const ref = `s6echo-${randomBytes(4).toString('hex')}`;
    // Shaped like a real session token's characters, and long: it passes any "looks like an id" filter of 128.
    const sessionToken = `FwoGZXIvYXdzE${randomBytes(40).toString('hex')}`.slice(0, 96);
    const secret = `secret${randomBytes(16).toString('hex')}`;
    const env = { AI_AUDIT_MASTER_KEY: MASTER_KEY, AI_AUDIT_HOME: '', ...NO_AWS_DEFAULT_CREDENTIALS };
    const outputs: string[] = [];
    const cli = async (args: string[], input?: string) => {
      const result = await runCliProcess([...args, '--home', home], { env, ...(input === undefined ? {} : { input }) });
      outputs.push(result.stdout, result.stderr);
      return result;
    };
    const daemon = await startDaemonProcess(home, env);
    try {
      assert.equal((await cli(['ingest', '-'], '{"kind":"chat.input","input":"hello"}\n')).code, 0);
      const stored = await cli(['credentials', 'set', ref, '--kind', 's3'], `AKIAECHOTEST\n${secret}\n${sessionToken}\n`);
      assert.equal(stored.code, 0, stored.stderr);
      const flags = ['--endpoint', endpoint.url, '--path-style', '--credentials-ref', ref];
      const exported = await cli(['export', '--to', 's3://audit/echo', ...flags]);
      assert.notEqual(exported.code, 0);
      assert.match(exported.stderr, /destination_error/);
      assert.match(exported.stderr, /an unrecognized error code, HTTP 400/);
      const tested = await cli(['destinations', 'add', 'echo', '--to', 's3://audit/echo', ...flags]);
      assert.equal(tested.code, 0, tested.stderr);
      await cli(['destinations', 'test', 'echo']);
      await cli(['schedules', 'add', 'echoing', '--destination', 'echo', '--every', 'hour', '--minute', '5']);
      await cli(['schedules', 'run', 'echoing']);
      assert.ok(endpoint.requests > 0, 'the endpoint was asked');
      const client = await daemon.connect();
      const { runs } = await client.request('export.runs', {});
      assert.ok(runs.length >= 1);
      assert.ok(runs.every((run) => run.status === 'failed' && run.error !== null), JSON.stringify(runs));
      outputs.push(JSON.stringify(runs));
      await client.dispose();
    } finally {
      await cli(['credentials', 'remove', ref]);
      assert.equal(await daemon.stop(), 0);
      await endpoint.close();
    }
    for (const text of [...outputs, daemon.output()]) {
      assert.ok(!text.includes(sessionToken.slice(0, 40)), `the session token was shown: ${text}`);
      assert.ok(!text.includes(secret), 'the secret was shown');
    }
    for (const path of await filesUnder(home)) {
      const bytes = await readFile(path);
      assert.ok(!bytes.includes(sessionToken.slice(0, 40)), `the session token is in ${path}`);
    }
  });

  test('idempotency keys chosen to share their digest\'s first 4 bytes (and neighbours in the same probe run) each keep their own entry, before and after a restart', async () => {
    const prefix = (key: string): number => createHash('sha256').update(key).digest().readUInt32LE(0);
    // Found by a birthday search over `attacker-key-<i>` (about 200,000 hashes); the neighbours share the low 18
    // bits (the window's 262,144 buckets) with the first pair, so all six lie in one probe run.
    const pairs = [
      ['attacker-key-44471', 'attacker-key-120970'],
      ['attacker-key-145424', 'attacker-key-210482'],
      ['attacker-key-42492', 'attacker-key-211405'],
    ] as const;
    const neighbours = ['neighbour-447120', 'neighbour-516372', 'neighbour-1127355', 'neighbour-1211972'];
    for (const [a, b] of pairs) assert.equal(prefix(a), prefix(b), `${a} and ${b} share a prefix`);
    for (const n of neighbours) assert.equal(prefix(n) & 0x3ffff, prefix(pairs[0][0]) & 0x3ffff);
    const keys = [...pairs.flat(), ...neighbours];
    const home = await dir('idempotency');
    const env = { AI_AUDIT_MASTER_KEY: MASTER_KEY };
    const seqOf = new Map<string, number>();
    const send = async (daemon: Awaited<ReturnType<typeof startDaemonProcess>>, order: readonly string[], expectDuplicate: boolean): Promise<void> => {
      const client = await daemon.connect();
      // One key per request, then all of them in one batch.
      for (const key of order) {
        const { acks } = await client.request('ingest', { events: [{ kind: 'chat.input', input: key, idempotency_key: key }] });
        const ack = acks[0];
        assert.ok(ack !== undefined && 'seq' in ack, JSON.stringify(ack));
        assert.equal(ack.duplicate === true, expectDuplicate || seqOf.has(key), `${key}: ${JSON.stringify(ack)}`);
        if (seqOf.has(key)) assert.equal(ack.seq, seqOf.get(key), key);
        else seqOf.set(key, ack.seq);
      }
      const { acks } = await client.request('ingest', { events: [...order].reverse().map((key) => ({ kind: 'chat.input', input: key, idempotency_key: key })) });
      [...order].reverse().forEach((key, i) => {
        const ack = acks[i];
        assert.ok(ack !== undefined && 'seq' in ack && ack.duplicate === true && ack.seq === seqOf.get(key), `${key}: ${JSON.stringify(ack)}`);
      });
      await client.dispose();
    };
    let daemon = await startDaemonProcess(home, env);
    try {
      // Each pair's second key sent after its first: a prefix match must not answer it as a replay.
      await send(daemon, keys, false);
      assert.equal(new Set(seqOf.values()).size, keys.length, 'one entry per key');
    } finally {
      assert.equal(await daemon.stop(), 0);
    }
    // After a restart the window is read back from the store: the same answers, in another order.
    daemon = await startDaemonProcess(home, env);
    try {
      await send(daemon, [...keys].reverse(), true);
      const client = await daemon.connect();
      const { acks } = await client.request('ingest', { events: [{ kind: 'chat.input', input: 'fresh', idempotency_key: 'attacker-key-0' }] });
      assert.ok(acks[0] !== undefined && 'seq' in acks[0] && acks[0].duplicate !== true);
      await client.dispose();
    } finally {
      assert.equal(await daemon.stop(), 0);
    }
    const verified = await runCliProcess(['verify', '--home', home, '--json'], { env });
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
  });

  test('stale code-cache temporaries planted in dist/ as a FIFO, a hard link, a link, pids past pid_max or past 2^31: the CLI starts, removes only dead writers\' plain files, follows nothing', { skip: process.platform !== 'linux', timeout: 240_000 }, async () => {
    const cli = await copiedCli();
    const cache = codeCachePath(join(dirname(cli), 'cli-main.cjs'), 'cli');
    const outside = join(await dir('outside'), 'precious');
    await writeFile(outside, 'precious bytes');
    const dead = [await deadPid(), await deadPid(), await deadPid(), await deadPid()] as const;
    const fifo = `${cache}.${dead[0]}.tmp`;
    await runFile('mkfifo', [fifo]);
    const hardLink = `${cache}.${dead[1]}.tmp`;
    await link(outside, hardLink);
    const softLink = `${cache}.${dead[2]}.tmp`;
    await symlink(outside, softLink);
    const plain = `${cache}.${dead[3]}.tmp`;
    await writeFile(plain, 'half a cache');
    // No process can have these pids: past the kernel's pid_max (kill says ESRCH), and past 2^31 (kill refuses the number).
    const pastPidMax = `${cache}.${Number((await readFile('/proc/sys/kernel/pid_max', 'utf8')).trim()) + 1}.tmp`;
    await writeFile(pastPidMax, 'planted');
    const pastInt32 = `${cache}.2147483648.tmp`;
    await writeFile(pastInt32, 'planted');
    // The first run has no cache and writes one (cleaning first); the second takes it.
    for (let round = 0; round < 2; round++) {
      const version = await runCliProcess(['--version'], { cli });
      assert.equal(version.code, 0, version.stderr);
    }
    assert.ok((await lstat(cache)).isFile(), 'a cache was written');
    assert.ok((await lstat(fifo)).isFIFO(), 'the FIFO is not a plain file: kept, never opened');
    assert.ok((await lstat(softLink)).isSymbolicLink(), 'a link is kept');
    // A hard link is a plain file of ours: its name goes, what it shares stays.
    await assert.rejects(lstat(hardLink), { code: 'ENOENT' });
    assert.equal(await readFile(outside, 'utf8'), 'precious bytes');
    await assert.rejects(lstat(plain), { code: 'ENOENT' });
    await assert.rejects(lstat(pastPidMax), { code: 'ENOENT' });
    assert.ok(await lstat(pastInt32), 'a pid that kill cannot ask about counts as running');
    // The daemon's own cache is another name: its temporaries are not the CLI's to judge, and it starts.
    const daemon = await startDaemonProcess(await dir('cache-home'), { AI_AUDIT_MASTER_KEY: MASTER_KEY }, [], { cli });
    assert.equal(await daemon.stop(), 0);
    assert.ok((await lstat(fifo)).isFIFO());
  });

  test('readers (pages, get, verify) on other connections while retention drops hundreds of segments: each answers with data or a documented refusal, never a failure', async () => {
    const env = { AI_AUDIT_MASTER_KEY: MASTER_KEY };
    const home = await dir('retention-readers');
    // 1,500 entries of 200 days ago in 1 KB segments, kept at the daemon's start (retention_days 36,500).
    {
      const state = await DaemonState.open(home);
      await state.updateSettings({ retention_days: 36_500 });
      const keys = await openKeyStore({ home, env, generation: state.keyGeneration }).load();
      let clock = Date.now() - 200 * 86_400_000;
      const store = await AuditStore.open({ home, keys, contentMode: () => 'hash', log: () => undefined, now: () => clock, segmentMaxBytes: 1024 });
      for (let i = 0; i < 1_500; i += 10) {
        const acks = await store.ingest(Array.from({ length: 10 }, (_, j) => ({ kind: 'chat.input' as const, input: `old prompt ${i + j}` })));
        assert.ok(acks.every((a) => 'seq' in a));
        clock += 50_000;
      }
      await store.close();
    }
    const before = (await segmentFiles(home)).length;
    assert.ok(before > 100, `only ${before} segments`);
    const daemon = await startDaemonProcess(home, env);
    const client = await daemon.connect();
    const readers = await Promise.all([daemon.connect(), daemon.connect(), daemon.connect()]);
    const refusals = new Map<string, number>();
    const refused = (error: unknown, allowed: string[]): void => {
      assert.ok(error instanceof AuditError && allowed.includes(error.code), `unexpected: ${String(error)} ${JSON.stringify((error as AuditError).data)}`);
      refusals.set(error.code, (refusals.get(error.code) ?? 0) + 1);
    };
    let done = false;
    let rounds = 0;
    try {
      const retention = client.request('retention.run', { older_than_days: 30 }).finally(() => (done = true));
      const [pages, gets, verifies] = readers as [typeof client, typeof client, typeof client];
      await Promise.all([
        (async () => {
          // Whole walks through the pages, oldest entries last: a cursor into what retention removed is bad_cursor.
          while (!done) {
            let cursor: string | undefined;
            try {
              do {
                const page = await pages.request('query', { limit: 50, ...(cursor === undefined ? {} : { cursor }) });
                for (const entry of page.entries) assert.equal(typeof entry.hash, 'string');
                cursor = page.next_cursor ?? undefined;
              } while (cursor !== undefined && !done);
            } catch (error: unknown) {
              refused(error, ['bad_cursor']);
            }
            rounds++;
          }
        })(),
        (async () => {
          for (let seq = 1; !done; seq = (seq % 1_500) + 7) {
            try {
              const { entry } = await gets.request('get', { seq });
              assert.equal(entry.seq, seq);
            } catch (error: unknown) {
              refused(error, ['not_found']);
            }
          }
        })(),
        (async () => {
          while (!done) {
            const report = await verifies.request('verify', {});
            assert.ok(report.ok, JSON.stringify(report.problem));
          }
        })(),
      ]);
      const result = await retention;
      assert.ok(result.dropped_segments > 100, JSON.stringify(result));
      const report = await client.request('verify', {});
      assert.ok(report.ok, JSON.stringify(report.problem));
    } finally {
      for (const reader of readers) await reader.dispose();
      await client.dispose();
      assert.equal(await daemon.stop(), 0);
    }
    assert.ok(rounds > 0);
    const offline = await runCliProcess(['verify', '--home', home, '--json'], { env });
    assert.equal(offline.code, 0, offline.stdout + offline.stderr);
  });

  test('worker chunks swapped under a running daemon for another build\'s (other names, foreign code): it never runs them; large encrypted batches and verify on workers still succeed', async () => {
    const cli = await copiedCli();
    const chunks = join(dirname(cli), 'cli-chunks');
    const home = await dir('swapped-workers');
    const marker = join(await dir('marker'), 'ran');
    const daemon = await startDaemonProcess(home, { AI_AUDIT_MASTER_KEY: MASTER_KEY, AI_AUDIT_VERIFY_WORKERS: '2' }, [], { cli });
    try {
      const client = await daemon.connect();
      await client.request('ingest', { events: [{ kind: 'chat.input', input: 'before the upgrade' }] });
      // An upgrade in place: this build's worker chunks gone, another build's beside them (content-hash names).
      let swapped = 0;
      for (const name of await readdir(chunks)) {
        const kind = /^(cipher|verify)-worker-[A-Z0-9]+\.cjs$/.exec(name)?.[1];
        if (kind === undefined) continue;
        await rm(join(chunks, name));
        await writeFile(join(chunks, `${kind}-worker-FOREIGN0.cjs`), `require('node:fs').writeFileSync(${JSON.stringify(marker)}, ${JSON.stringify(kind)});\n`);
        swapped++;
      }
      assert.equal(swapped, 2);
      for (let round = 0; round < 3; round++) {
        const events = Array.from({ length: 100 }, (_, i) => ({ kind: 'chat.output', content_mode: 'encrypted', input: `q ${round}.${i}`, output: `a ${round}.${i}` }));
        const { acks } = await client.request('ingest', { events });
        assert.ok(acks.every((ack) => 'seq' in ack), JSON.stringify(acks.find((ack) => !('seq' in ack))));
      }
      const report = await client.request('verify', {});
      assert.equal(report.ok, true, JSON.stringify(report.problem));
      assert.ok(report.entries_checked >= 301, JSON.stringify(report));
      await client.dispose();
    } finally {
      assert.equal(await daemon.stop(), 0);
    }
    await assert.rejects(readFile(marker, 'utf8'), { code: 'ENOENT' }, 'foreign worker code ran');
    const offline = await runCliProcess(['verify', '--home', home, '--json'], { env: { AI_AUDIT_MASTER_KEY: MASTER_KEY, AI_AUDIT_VERIFY_WORKERS: '2' }, cli });
    assert.equal(offline.code, 0, offline.stdout + offline.stderr);
    await assert.rejects(readFile(marker, 'utf8'), { code: 'ENOENT' }, 'foreign worker code ran');
  });
});
