// The CLI bundle runs through V8's code cache (daemon/cli/codeCache.ts). A cache is code, so it is used only when
// made for exactly these bundle bytes, intact, and written by whoever could replace the bundle; anything else
// (missing, damaged, of another build or V8 flags, writable by others, a link) compiles the bundle from its
// source and still runs it. Each load runs in a process of its own (test/support/codeCacheRun.ts): within one
// process V8 reuses what it compiled and never reads the cache.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, chown, copyFile, lstat, mkdir, readFile, rm, stat, symlink, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { codeCachePath } from '../../../daemon/cli/codeCache.ts';
import { CLI } from '../../support/daemonProcess.ts';
import { suiteTempDirs } from '../../support/suiteTempDirs.ts';

const run = promisify(execFile);
const dir = suiteTempDirs('code-cache');
const RUNNER = fileURLToPath(new URL('../../support/codeCacheRun.ts', import.meta.url));

/** A bundle that says which code ran; `mark` keeps every variant of one length. */
async function bundle(folder: string, mark: string): Promise<string> {
  const path = join(folder, 'bundle.cjs');
  await writeFile(path, `globalThis.codeCacheProbe = ${JSON.stringify(mark)}; module.exports.file = __filename;\n`);
  return path;
}

/** Far beyond any load (about a second); only a load that blocks forever reaches it. */
const HUNG_MS = 120_000;

/** Loads `path` with `cache` in a new process (with `flags` for V8), saving the cache afterwards if asked. */
async function runs(path: string, cache: string, options: { save?: boolean; flags?: string[] } = {}): Promise<{ status: string; ran: string; saved: boolean | null }> {
  const args = [...(options.flags ?? []), '--import', 'tsx', RUNNER, path, cache, ...(options.save === true ? ['save'] : [])];
  // Killed if it never ends (a load blocked on the cache), so that the test fails instead of hanging.
  return JSON.parse((await run(process.execPath, args, { timeout: HUNG_MS })).stdout) as { status: string; ran: string; saved: boolean | null };
}


test('without a cache the bundle runs and writes one; the next run takes it', async () => {
  const folder = await dir('first');
  const path = await bundle(folder, 'AAAA');
  const cache = codeCachePath(path, 'cli');
  assert.deepEqual(await runs(path, cache, { save: true }), { status: 'missing', ran: 'AAAA', saved: true });
  assert.equal((await stat(cache)).mode & 0o022, 0, 'writable by its owner only');
  assert.deepEqual(await runs(path, cache), { status: 'accepted', ran: 'AAAA', saved: null });
});

test('a damaged cache is not handed to V8, and one of other V8 flags is rejected: the bundle compiles from source', async () => {
  const folder = await dir('damaged');
  const path = await bundle(folder, 'AAAA');
  const cache = codeCachePath(path, 'cli');
  await runs(path, cache, { save: true });
  const made = await readFile(cache);
  // The header (format, the bundle's SHA-256, the data's SHA-256: 72 bytes) intact, V8's data damaged or cut.
  const damaged = Buffer.from(made);
  damaged[made.length - 3] = damaged[made.length - 3]! ^ 0x01;
  for (const bytes of [damaged, made.subarray(0, made.length - 1)]) {
    await writeFile(cache, bytes);
    assert.deepEqual(await runs(path, cache, { save: true }), { status: 'damaged', ran: 'AAAA', saved: true });
    assert.equal((await runs(path, cache)).status, 'accepted', 'replaced by a good one');
  }
  await writeFile(cache, 'not a cache');
  assert.deepEqual(await runs(path, cache), { status: 'stale', ran: 'AAAA', saved: null });
  // V8 checks its version and flags itself: made under other flags, the cache is rejected.
  await runs(path, cache, { save: true });
  assert.deepEqual(await runs(path, cache, { flags: ['--heap-growing-percent=50'] }), { status: 'rejected', ran: 'AAAA', saved: null });
});

test('a cache of other bundle bytes is never used, even of the same length (V8 checks only the length)', async () => {
  const folder = await dir('foreign');
  const path = await bundle(folder, 'AAAA');
  const cache = codeCachePath(path, 'cli');
  await runs(path, cache, { save: true });
  // A rebuild or an upgrade of the same length: the cache of the old bytes stays unused.
  await bundle(folder, 'BBBB');
  assert.deepEqual(await runs(path, cache), { status: 'stale', ran: 'BBBB', saved: null });
  // A cache made for other code, put in place of this bundle's: its header names other bytes.
  const other = await dir('foreign-source');
  const otherPath = await bundle(other, 'CCCC');
  await runs(otherPath, codeCachePath(otherPath, 'cli'), { save: true });
  await copyFile(codeCachePath(otherPath, 'cli'), cache);
  assert.deepEqual(await runs(path, cache), { status: 'stale', ran: 'BBBB', saved: null });
});

test("a cache that someone other than the bundle's owner could have written is not used", { skip: process.platform === 'win32' }, async () => {
  const folder = await dir('untrusted');
  const path = await bundle(folder, 'AAAA');
  const cache = codeCachePath(path, 'cli');
  await runs(path, cache, { save: true });
  for (const mode of [0o666, 0o620]) {
    await chmod(cache, mode);
    assert.deepEqual(await runs(path, cache), { status: 'untrusted', ran: 'AAAA', saved: null }, mode.toString(8));
  }
  await chmod(cache, 0o644);
  assert.equal((await runs(path, cache)).status, 'accepted');
  // A link is not followed, even to a good cache.
  const link = `${cache}-link`;
  await symlink(cache, link);
  assert.deepEqual(await runs(path, link), { status: 'untrusted', ran: 'AAAA', saved: null });
  // Owned by another user (only root can give a file away).
  if (process.getuid?.() === 0) {
    await chown(cache, 65534, 65534);
    assert.deepEqual(await runs(path, cache), { status: 'untrusted', ran: 'AAAA', saved: null });
  }
});

test('a FIFO, a folder or a huge file in the cache\'s place is not read: the bundle runs, and a save replaces what it can', { skip: process.platform === 'win32' }, async () => {
  const folder = await dir('special');
  const path = await bundle(folder, 'AAAA');
  const cache = codeCachePath(path, 'cli');
  // A FIFO: opening it for reading would wait for a writer, for ever.
  await run('mkfifo', [cache]);
  assert.deepEqual(await runs(path, cache, { save: true }), { status: 'untrusted', ran: 'AAAA', saved: true });
  assert.ok((await lstat(cache)).isFile(), 'replaced by a cache');
  assert.equal((await runs(path, cache)).status, 'accepted');
  await rm(cache);
  await mkdir(cache);
  assert.deepEqual(await runs(path, cache, { save: true }), { status: 'untrusted', ran: 'AAAA', saved: false });
  await rm(cache, { recursive: true });
  // Far larger than a cache (sparse: no disk used): refused before it is read into memory.
  await writeFile(cache, '');
  await truncate(cache, 65 * 1024 * 1024);
  assert.deepEqual(await runs(path, cache), { status: 'untrusted', ran: 'AAAA', saved: null });
});

test('the built CLI starts with a FIFO in its cache\'s place', { skip: process.platform === 'win32' }, async () => {
  const install = join(await dir('install-fifo'), 'dist');
  await mkdir(install);
  await copyFile(CLI, join(install, 'cli.mjs'));
  await copyFile(join(CLI, '../cli-main.cjs'), join(install, 'cli-main.cjs'));
  const cache = codeCachePath(join(install, 'cli-main.cjs'), 'cli');
  await run('mkfifo', [cache]);
  const version = (await run(process.execPath, [join(install, 'cli.mjs'), '--version'], { timeout: HUNG_MS })).stdout.trim();
  assert.match(version, /\d+\.\d+\.\d+/);
  assert.ok((await lstat(cache)).isFile(), 'replaced by a cache at exit');
});

/** The pid of a process that has ended (a pid is not reused that soon). */
async function deadPid(): Promise<number> {
  const child = execFile(process.execPath, ['-e', '']);
  const pid = child.pid;
  await new Promise((resolve) => child.once('exit', resolve));
  assert.ok(pid !== undefined);
  return pid;
}

test("a save removes the temporary files of writers that died (only ours, of dead pids, regular files, no link followed)", async () => {
  const folder = await dir('stale-tmp');
  const path = await bundle(folder, 'AAAA');
  const cache = codeCachePath(path, 'cli');
  const dead = await deadPid();
  const stale = `${cache}.${dead}.tmp`;
  await writeFile(stale, 'half a cache');
  // What stays: a running writer's file (this test's pid), a link (and what it names), other names.
  const running = `${cache}.${process.pid}.tmp`;
  await writeFile(running, 'being written');
  const target = join(folder, 'target');
  await writeFile(target, 'not a cache');
  const link = `${cache}.${dead + 1}.tmp`;
  await symlink(target, link);
  const others = [`${cache}.x${dead}.tmp`, `${cache}.${dead}.tmp.keep`, `${codeCachePath(path, 'daemon')}-other.${dead}.tmp`, join(folder, `other.${dead}.tmp`)];
  for (const other of others) await writeFile(other, 'not ours');
  // A folder of that name, and (only root can give a file away) a file of another user.
  const folderNamed = `${cache}.${dead + 2}.tmp`;
  await mkdir(folderNamed);
  others.push(folderNamed);
  if (process.getuid?.() === 0) {
    const foreign = `${cache}.${dead + 3}.tmp`;
    await writeFile(foreign, 'another user');
    await chown(foreign, 65534, 65534);
    others.push(foreign);
  }

  assert.deepEqual(await runs(path, cache, { save: true }), { status: 'missing', ran: 'AAAA', saved: true });
  await assert.rejects(lstat(stale), { code: 'ENOENT' });
  for (const kept of [running, link, target, ...others]) assert.ok(await lstat(kept), `${kept} was removed`);
  assert.equal(await readFile(target, 'utf8'), 'not a cache');
  assert.deepEqual(await runs(path, cache), { status: 'accepted', ran: 'AAAA', saved: null });
});

test('where no cache can be written the bundle runs all the same', async () => {
  const folder = await dir('read-only');
  const path = await bundle(folder, 'AAAA');
  assert.deepEqual(await runs(path, join(folder, 'missing-folder', 'bundle.v8cache'), { save: true }), { status: 'missing', ran: 'AAAA', saved: false });
});

test('the built CLI replaces a corrupt cache and runs', async () => {
  const install = join(await dir('install'), 'dist');
  await mkdir(install);
  await copyFile(CLI, join(install, 'cli.mjs'));
  await copyFile(join(CLI, '../cli-main.cjs'), join(install, 'cli-main.cjs'));
  const cache = codeCachePath(join(install, 'cli-main.cjs'), 'cli');
  const version = (await run(process.execPath, [join(install, 'cli.mjs'), '--version'])).stdout.trim();
  const made = await readFile(cache);
  assert.ok(made.length > 1000, 'a cache was written at exit');
  const damaged = Buffer.from(made);
  damaged.fill(0x41, 72);
  await writeFile(cache, damaged);
  assert.equal((await run(process.execPath, [join(install, 'cli.mjs'), '--version'])).stdout.trim(), version);
  assert.notDeepEqual(await readFile(cache), damaged, 'rewritten');
});

test('the built CLI run from its cache still loads its native keychain module (no dynamic import in the bundle)', async () => {
  const root = await dir('install-keychain');
  const install = join(root, 'dist');
  await mkdir(install);
  // The native module beside the install, as in the .vsix.
  await symlink(join(CLI, '../../node_modules'), join(root, 'node_modules'));
  await copyFile(CLI, join(install, 'cli.mjs'));
  await copyFile(join(CLI, '../cli-main.cjs'), join(install, 'cli-main.cjs'));
  const home = await dir('keychain-home');
  // The OS keychain of the test session (scripts/test.mjs), not a master key: `verify` loads @napi-rs/keyring.
  const env = { ...process.env };
  delete env.AI_AUDIT_MASTER_KEY;
  const verify = () =>
    run(process.execPath, [join(install, 'cli.mjs'), 'verify', '--json', '--home', home], { env }).then(
      (r) => ({ code: 0, stderr: r.stderr }),
      (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
    );
  const first = await verify();
  assert.equal((await readFile(codeCachePath(join(install, 'cli-main.cjs'), 'cli'))).length > 1000, true, 'a cache was written');
  const second = await verify();
  for (const result of [first, second]) assert.ok(!result.stderr.includes('keychain_unavailable') && result.code !== 2, result.stderr);
  assert.equal(second.code, first.code);
});
