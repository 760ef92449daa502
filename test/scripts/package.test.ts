// `npm run package`: each platform's .vsix holds the manifest, the README and its image, the licence, the
// bundles and @napi-rs/keyring with the binary of its own platform (checked by the binary's header), and
// nothing else. The linux-x64 one, unpacked, runs its own daemon and CLI with the keychain: the bundle
// needs nothing from the repository's node_modules.

import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { readDiscovery } from '../../daemon/client/daemonDiscovery.ts';
import { cliChunks, hostTarget, packageTarget, TARGETS } from '../../scripts/package.mjs';
import { readZip, type ZipEntry } from '../support/zipArchive.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const run = promisify(execFile);

/** Every file of a .vsix outside node_modules/@napi-rs. */
const SHIPPED = [
  'extension.vsixmanifest',
  '[Content_Types].xml',
  'extension/package.json',
  'extension/readme.md',
  'extension/LICENSE.txt',
  'extension/docs/chat.png',
  'extension/docs/audit-log-dark.png',
  'extension/docs/audit-log-light.png',
  'extension/docs/audit-log-charts-dark.png',
  'extension/docs/audit-log-charts-light.png',
  'extension/dist/extension.cjs',
  'extension/dist/cli.mjs',
  'extension/dist/cli-main.cjs',
  'extension/dist/webview/chat.js',
  'extension/dist/webview/chat.css',
  'extension/dist/webview/auditLog.js',
  'extension/dist/webview/auditLog.css',
  'extension/dist/webview/codicon.css',
  'extension/dist/webview/codicon.ttf',
];

/** What the first bytes of each target's keyring binary say: ELF machine, Mach-O CPU type, PE machine. */
const BINARY_ARCHITECTURE: Record<string, (binary: Buffer) => boolean> = {
  'linux-x64': (b) => b.readUInt32BE(0) === 0x7f454c46 && b.readUInt16LE(18) === 0x3e,
  'linux-arm64': (b) => b.readUInt32BE(0) === 0x7f454c46 && b.readUInt16LE(18) === 0xb7,
  'darwin-x64': (b) => b.readUInt32LE(0) === 0xfeedfacf && b.readUInt32LE(4) === 0x01000007,
  'darwin-arm64': (b) => b.readUInt32LE(0) === 0xfeedfacf && b.readUInt32LE(4) === 0x0100000c,
  'win32-x64': (b) => b.toString('latin1', 0, 2) === 'MZ' && b.readUInt16LE(b.readUInt32LE(0x3c) + 4) === 0x8664,
};

test('one .vsix per platform, each with its own keyring binary and nothing else', { timeout: 10 * 60_000 }, async (t) => {
  const out = await mkdtemp(join(tmpdir(), 'ai-audit-vsix-'));
  t.after(() => rm(out, { recursive: true, force: true }));
  const loaderFiles = (await readdir(join(ROOT, 'node_modules/@napi-rs/keyring'))).map((f) => `extension/node_modules/@napi-rs/keyring/${f}`);
  // The daemon's parts loaded on demand (the export SDKs), each named by its content hash; no source maps.
  const chunks = (await cliChunks()).map((f) => `extension/${f}`);
  assert.ok(chunks.some((f) => /\/aws-[A-Z0-9]+\.cjs$/.test(f)), `no AWS SDK chunk among ${chunks.join(', ')}`);
  assert.deepEqual(Object.keys(TARGETS).sort(), ['darwin-arm64', 'darwin-x64', 'linux-arm64', 'linux-x64', 'win32-x64']);

  for (const [target, platform] of Object.entries(TARGETS)) {
    const { path, size } = await packageTarget(target, { outDir: out, log: () => {} });
    t.diagnostic(`${target}: ${(size / 1024 / 1024).toFixed(2)} MiB`);
    const entries = await readZip(path);
    const names = entries.map((e) => e.name);
    const binaryPackage = `extension/node_modules/@napi-rs/keyring-${platform}/`;
    const unexpected = names.filter((n) => !SHIPPED.includes(n) && !loaderFiles.includes(n) && !chunks.includes(n) && !n.startsWith(binaryPackage));
    assert.deepEqual(unexpected, [], `${target}: files that should not ship`);
    for (const name of [...SHIPPED, ...loaderFiles, ...chunks]) assert.ok(names.includes(name), `${target}: ${name} is missing`);

    const binary = entry(entries, `${binaryPackage}keyring.${platform}.node`);
    assert.ok(BINARY_ARCHITECTURE[target]?.(binary.data()), `${target}: keyring.${platform}.node is not a ${target} binary`);
    assert.match(entry(entries, 'extension.vsixmanifest').data().toString(), new RegExp(`TargetPlatform="${target}"`));
    const manifest = JSON.parse(entry(entries, 'extension/package.json').data().toString()) as Record<string, unknown>;
    assert.equal(manifest.scripts, undefined, `${target}: build scripts shipped`);
    assert.equal(manifest.devDependencies, undefined, `${target}: dev dependencies listed`);
    assert.deepEqual(Object.keys(manifest.dependencies as object), ['@napi-rs/keyring']);
  }
});

test('the unpacked linux-x64 .vsix runs its own daemon and verifies with the keychain', { skip: hostTarget() !== 'linux-x64' && 'linux-x64 only', timeout: 5 * 60_000 }, async (t) => {
  const out = await mkdtemp(join(tmpdir(), 'ai-audit-vsix-run-'));
  t.after(() => rm(out, { recursive: true, force: true }));
  const { path } = await packageTarget('linux-x64', { outDir: out, log: () => {} });
  const unpacked = join(out, 'unpacked');
  for (const e of await readZip(path)) {
    await mkdir(dirname(join(unpacked, e.name)), { recursive: true });
    await writeFile(join(unpacked, e.name), e.data());
  }
  const cli = join(unpacked, 'extension/dist/cli.mjs');
  assert.ok(!existsSync(join(out, 'node_modules')) && !existsSync(join(dirname(out), 'node_modules')), 'a node_modules above the unpacked extension');
  const home = join(out, 'home');
  // The test keyring session (scripts/test.mjs) is the OS keychain here; no master key.
  const env = { ...process.env, AI_AUDIT_MASTER_KEY: undefined, AI_AUDIT_HOME: undefined };

  const daemon = spawn(process.execPath, [cli, 'daemon', '--home', home], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  daemon.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = once(daemon, 'exit');
  t.after(() => daemon.kill('SIGKILL'));
  while ((await readDiscovery(home))?.discovery.pid !== daemon.pid) {
    assert.equal(daemon.exitCode, null, `the shipped daemon exited:\n${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const event = JSON.stringify({ kind: 'chat.input', input: 'from the vsix', actor: { user_id: 'ada' } });
  const ingest = spawn(process.execPath, [cli, 'ingest', '-', '--home', home], { env, stdio: ['pipe', 'pipe', 'inherit'] });
  ingest.stdin.end(`${event}\n`);
  let acks = '';
  ingest.stdout.on('data', (chunk: Buffer) => (acks += chunk.toString()));
  assert.deepEqual(await once(ingest, 'exit'), [0, null]);
  assert.match(acks, /"seq":1/);
  daemon.kill('SIGTERM');
  await exited;

  const verify = await run(process.execPath, [cli, 'verify', '--json', '--home', home], { env });
  assert.equal((JSON.parse(verify.stdout) as { ok: boolean }).ok, true, verify.stdout);
  const keyFile = await readFile(join(unpacked, 'extension/node_modules/@napi-rs/keyring-linux-x64-gnu/package.json'), 'utf8');
  assert.match(keyFile, /"name": "@napi-rs\/keyring-linux-x64-gnu"/);
});

function entry(entries: readonly ZipEntry[], name: string): ZipEntry {
  const found = entries.find((e) => e.name === name);
  assert.ok(found, `${name} is missing`);
  return found;
}
