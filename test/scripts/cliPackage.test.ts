// The CLI on its own, for servers and CI hosts: `npm pack` of the repository gives a tarball with the
// bundled CLI (and the manifest, README, licence) only, and `npm i -g ./ai-audit-trail-*.tgz` installs a
// working `ai-audit`, with its native dependencies from the registry. Installed into a temporary prefix.

import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { readDiscovery } from '../../daemon/client/daemonDiscovery.ts';
import { cliChunks } from '../../scripts/package.mjs';
import { withoutNpmVariables } from '../../scripts/vscode/ensureCodeServer.mjs';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const run = promisify(execFile);

test('npm pack gives an ai-audit that installs with npm i -g and runs', { timeout: 5 * 60_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ai-audit-cli-pack-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const npmEnv = withoutNpmVariables(process.env);
  const manifest = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };

  // --ignore-scripts: the build (`prepare`) already ran, and other tests read dist/ meanwhile.
  const packed = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: ROOT, env: npmEnv });
  const [tarball] = JSON.parse(packed.stdout) as [{ filename: string; files: { path: string }[] }];
  assert.deepEqual(tarball.files.map((f) => f.path).sort(), ['LICENSE', 'README.md', ...(await cliChunks()), 'dist/cli.mjs', 'dist/cli-main.cjs', 'package.json'].sort());

  const prefix = join(dir, 'prefix');
  await run('npm', ['install', '-g', join(dir, tarball.filename), '--prefix', prefix, '--no-audit', '--no-fund', '--prefer-offline'], { cwd: dir, env: npmEnv });
  const aiAudit = join(prefix, 'bin', 'ai-audit');
  assert.equal((await run(aiAudit, ['--version'], { cwd: dir })).stdout.trim(), manifest.version);

  // The installed CLI runs a daemon (its keychain: the test session's) and reports on it.
  const home = join(dir, 'home');
  const env = { ...process.env, AI_AUDIT_MASTER_KEY: undefined, AI_AUDIT_HOME: undefined };
  const stopped = await run(aiAudit, ['status', '--home', home], { cwd: dir, env }).then(() => 0, (error: { code: number }) => error.code);
  assert.equal(stopped, 1, 'status says "not running" with exit code 1');
  const daemon = spawn(aiAudit, ['daemon', '--home', home], { cwd: dir, env, stdio: ['ignore', 'ignore', 'pipe'] });
  t.after(() => daemon.kill('SIGKILL'));
  let stderr = '';
  daemon.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  while ((await readDiscovery(home)) === null) {
    assert.equal(daemon.exitCode, null, `the installed daemon exited:\n${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const status = await run(aiAudit, ['status', '--json', '--home', home], { cwd: dir, env });
  assert.equal((JSON.parse(status.stdout) as { running: boolean }).running, true);
  daemon.kill('SIGTERM');
  await once(daemon, 'exit');
});
