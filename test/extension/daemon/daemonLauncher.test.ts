// The extension finds or starts the built daemon (real processes), and replaces a running daemon older than
// the bundled one: after an upgrade, the old daemon would run from a folder VS Code removes.

import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { discoveryAlive } from '../../../daemon/client/daemonDiscovery.ts';
import { DISCOVERY_FILE } from '../../../daemon/protocol/messages.ts';
import { DAEMON_VERSION } from '../../../daemon/version.ts';
import { findOrStartDaemon, isOlderVersion, stopDaemon } from '../../../extension/daemon/daemonLauncher.ts';
import { CLI } from '../../support/daemonProcess.ts';
import { suiteTempDirs } from '../../support/suiteTempDirs.ts';

const env = { ...process.env, AI_AUDIT_MASTER_KEY: Buffer.alloc(32, 3).toString('base64') };

test('isOlderVersion compares dotted numbers and never calls an unparsable version older', () => {
  assert.equal(isOlderVersion('0.1.0', '0.2.0'), true);
  assert.equal(isOlderVersion('0.9.9', '0.10.0'), true);
  assert.equal(isOlderVersion('1.0', '1.0.1'), true);
  assert.equal(isOlderVersion('0.2.0', '0.2.0'), false);
  assert.equal(isOlderVersion('0.3.0', '0.2.9'), false);
  assert.equal(isOlderVersion('dev', '0.2.0'), false);
  assert.equal(isOlderVersion('0.1.0', '0.2.0-beta'), false);
});

describe('findOrStartDaemon', () => {
  const dir = suiteTempDirs('launcher');

  test('replaces a running daemon older than the bundled one, and only then', async () => {
    const home = await dir('older');
    const log: string[] = [];
    const options = { home, cliPath: CLI, env, log: (line: string) => void log.push(line) };
    try {
      const first = await findOrStartDaemon(options);
      assert.equal(first.discovery.version, DAEMON_VERSION);
      // The same daemon is found again, whether or not an older one would be replaced.
      assert.equal((await findOrStartDaemon(options)).discovery.pid, first.discovery.pid);
      assert.equal((await findOrStartDaemon({ ...options, replaceOlderThan: DAEMON_VERSION })).discovery.pid, first.discovery.pid);

      // The running daemon says it is older than the bundled one (as the daemon of a previous release would).
      const path = join(home, DISCOVERY_FILE);
      await writeFile(path, JSON.stringify({ ...JSON.parse(await readFile(path, 'utf8')), version: '0.0.1' }));
      assert.equal((await findOrStartDaemon(options)).discovery.pid, first.discovery.pid, 'replaced without being asked to');
      const second = await findOrStartDaemon({ ...options, replaceOlderThan: DAEMON_VERSION });
      assert.notEqual(second.discovery.pid, first.discovery.pid);
      assert.equal(second.discovery.version, DAEMON_VERSION);
      assert.equal(discoveryAlive(first.discovery), false, 'the older daemon still runs');
      assert.ok(log.some((line) => line.includes('0.0.1')), log.join('\n'));

      // A running daemon newer than the bundled one is kept (another window may run a newer extension).
      assert.equal((await findOrStartDaemon({ ...options, replaceOlderThan: '0.0.1' })).discovery.pid, second.discovery.pid);
    } finally {
      await stopDaemon(home);
    }
  });
});
