// What `npm start` prints when VS Code has ended: the daemon the extension started keeps running, and the
// printed command stops it.

import assert from 'node:assert/strict';
import { execSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { test } from 'node:test';
import { runningDaemonNotice } from '../../../scripts/lib/runningDaemon.mjs';
import { CLI, startDaemonProcess } from '../../support/daemonProcess.ts';
import { tempDir } from '../../support/tempDir.ts';

test('npm start says that the daemon keeps running, and its stop command stops it', async (t) => {
  const dir = await tempDir('running-daemon');
  t.after(() => dir.dispose());
  const home = dir.path;
  const env = { ...process.env, AI_AUDIT_HOME: home, AI_AUDIT_MASTER_KEY: randomBytes(32).toString('base64') };
  assert.deepEqual(await runningDaemonNotice({ cli: CLI, env }), [], 'no daemon, nothing to say');

  const daemon = await startDaemonProcess(home, env);
  t.after(() => daemon.kill9());
  const lines = await runningDaemonNotice({ cli: CLI, env });
  assert.match(lines.join('\n'), new RegExp(`keeps running \\(pid ${daemon.discovery.pid}, data dir ${home.replaceAll(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\)`));
  const stop = /stop it with: (kill \d+)/.exec(lines.join('\n'))?.[1];
  assert.ok(stop, lines.join('\n'));

  const exited = once(daemon.child, 'exit');
  execSync(stop);
  assert.deepEqual(await exited, [0, null], 'the daemon stops cleanly on the printed command');
});
