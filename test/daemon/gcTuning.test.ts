import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { DAEMON_GC_FLAGS } from '../../daemon/gcTuning.ts';

// `v8.setFlagsFromString` ignores a flag V8 does not know; node on its command line refuses one. A Node
// upgrade that renamed a flag would otherwise silently give back the memory the flags saved.
test('every GC flag the daemon sets is one this V8 knows', () => {
  for (const flag of DAEMON_GC_FLAGS) {
    const run = spawnSync(process.execPath, [flag, '-e', '0'], { encoding: 'utf8' });
    assert.equal(run.status, 0, `${flag}: ${run.stderr}`);
  }
  const unknown = spawnSync(process.execPath, ['--no-such-gc-flag-for-the-test=1', '-e', '0'], { encoding: 'utf8' });
  assert.notEqual(unknown.status, 0, 'node refuses an unknown flag, so the check above can fail');
});
