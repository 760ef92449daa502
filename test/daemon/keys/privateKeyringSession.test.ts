// What `npm start` created on a Linux machine without a desktop session stays usable from a plain shell:
// the daemon kept its keys in the private gnome-keyring of `npm start`'s D-Bus session, which ends with
// it; `ai-audit verify` run afterwards, without a session bus, opens that keyring again in a session of
// its own. (Before, it stopped with "Could not open the OS keychain".)

import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { readDiscovery } from '../../../daemon/client/daemonDiscovery.ts';
import { withoutNpmVariables } from '../../../scripts/vscode/ensureCodeServer.mjs';
import { CLI } from '../../support/daemonProcess.ts';

const START = fileURLToPath(new URL('../../../scripts/start.mjs', import.meta.url));

/** A plain shell of the same user: no session bus, no master key, no npm run around it. */
function plainShellEnv(dataHome: string): NodeJS.ProcessEnv {
  const env = withoutNpmVariables(process.env);
  for (const name of ['DBUS_SESSION_BUS_ADDRESS', 'GNOME_KEYRING_CONTROL', 'AI_AUDIT_MASTER_KEY', 'AI_AUDIT_HOME', 'AI_AUDIT_KEYRING_PASSWORD']) delete env[name];
  return { ...env, XDG_DATA_HOME: dataHome };
}

function runCli(args: string[], env: NodeJS.ProcessEnv, input?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, [CLI, ...args], { env }, (error, stdout, stderr) => {
      if (error !== null && typeof error.code !== 'number') reject(error);
      else resolve({ code: error === null ? 0 : (error.code as number), stdout, stderr });
    });
    child.stdin?.end(input);
  });
}

test('after `npm start -- --daemon` ends, `ai-audit verify` from a plain shell opens its private keyring', { skip: process.platform !== 'linux' && 'Linux only', timeout: 3 * 60_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ai-audit-private-keyring-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const env = plainShellEnv(join(dir, 'data'));
  const home = join(dir, 'home');

  const start = spawn(process.execPath, [START, '--daemon', '--home', home], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let startOutput = '';
  start.stderr.on('data', (chunk: Buffer) => (startOutput += chunk.toString()));
  const startExited = once(start, 'exit');
  t.after(() => start.kill('SIGKILL'));
  let pid: number | undefined;
  while (pid === undefined) {
    assert.equal(start.exitCode, null, `npm start -- --daemon exited:\n${startOutput}`);
    pid = (await readDiscovery(home))?.discovery.pid;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.ok(existsSync(join(dir, 'data', 'ai-audit-trail-keyring', 'keyrings')), 'the private keyring is in XDG_DATA_HOME');
  const event = JSON.stringify({ kind: 'chat.input', input: 'kept after npm start', actor: { user_id: 'ada' } });
  assert.equal((await runCli(['ingest', '-', '--home', home], env, `${event}\n`)).code, 0);
  // Ctrl-C in a terminal reaches the daemon itself; it signs a last checkpoint and the session ends.
  process.kill(pid, 'SIGINT');
  await startExited;

  const verify = await runCli(['verify', '--json', '--home', home], env);
  assert.equal(verify.code, 0, `verify failed:\n${verify.stderr}`);
  const report = JSON.parse(verify.stdout) as { ok: boolean; entries_checked: number };
  assert.equal(report.ok, true);
  assert.ok(report.entries_checked >= 1);
});
