// The cold path of the code-server install, as a fresh machine meets it: an empty cache folder, and the
// variables an outer `npm test` on Node 20 exports (code-server's postinstall reads the Node version from
// `npm_config_user_agent`: before the inner installs dropped it, this failed with "requires node v24").
// It installs for real (native builds, a few minutes) into a temporary XDG_CACHE_HOME, once per
// `npm test`; the end-to-end tests keep using the normal, warm cache.

import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { CODE_SERVER_VERSION, type CodeServerInstall } from '../../../scripts/vscode/ensureCodeServer.mjs';

const SCRIPT = fileURLToPath(new URL('../../../scripts/vscode/ensureCodeServer.mjs', import.meta.url));
/** What npm 10 on Node 20 exports to the scripts it runs. */
const OUTER_NPM_ON_NODE_20 = {
  npm_config_user_agent: 'npm/10.8.2 node/v20.19.0 linux x64 workspaces/false',
  npm_lifecycle_event: 'test',
  npm_node_execpath: '/usr/bin/node',
  npm_execpath: '/usr/lib/node_modules/npm/bin/npm-cli.js',
};

/**
 * Runs the install script with `env` in a process group of its own; resolves with its exit code, stdout
 * and stderr. `onGroup` receives a function that kills the group (npm and its builds), for a timeout.
 */
function runInstall(env: NodeJS.ProcessEnv, onGroup: (kill: () => void) => void): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SCRIPT], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    onGroup(() => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('code-server installs into an empty cache from inside an outer npm on Node 20, and runs', { timeout: 25 * 60_000 }, async (t) => {
  const cache = await mkdtemp(join(tmpdir(), 'ai-audit-cold-cache-'));
  let killInstall = (): void => {};
  t.after(() => {
    killInstall();
    return rm(cache, { recursive: true, force: true, maxRetries: 3 });
  });

  const result = await runInstall({ ...process.env, ...OUTER_NPM_ON_NODE_20, XDG_CACHE_HOME: cache }, (kill) => (killInstall = kill));
  assert.equal(result.code, 0, `the install failed:\n${result.stderr.split('\n').slice(-40).join('\n')}`);
  const install = JSON.parse(result.stdout) as CodeServerInstall;
  assert.ok(install.codeServerEntry.startsWith(cache), `installed outside the empty cache: ${install.codeServerEntry}`);

  const { stdout } = await promisify(execFile)(install.nodeBin, [install.codeServerEntry, '--version'], {
    // Its own config folder: code-server writes a config.yaml with a password into it on first run.
    env: { ...process.env, XDG_CACHE_HOME: cache, XDG_CONFIG_HOME: join(cache, 'config') },
  });
  assert.ok(stdout.split('\n').some((line) => line.startsWith(`${CODE_SERVER_VERSION} `)), `unexpected --version output: ${stdout}`);
});
