import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { deferredStart } from '../../daemon/deferredStart.ts';
import { ErrorCodes, type AuditError } from '../../daemon/protocol/errors.ts';

describe('deferredStart', () => {
  test('runs once after the delay; now() before it runs at once and only once', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    let runs = 0;
    const later = deferredStart(500, async () => void runs++, () => assert.fail('no error expected'));
    t.mock.timers.tick(499);
    assert.equal(runs, 0, 'not before the delay');
    t.mock.timers.tick(1);
    await later.settled();
    assert.equal(runs, 1);
    await later.now();
    assert.equal(runs, 1, 'now() after it ran does not run it again');

    const early = deferredStart(500, async () => void runs++, () => assert.fail('no error expected'));
    await Promise.all([early.now(), early.now()]);
    assert.equal(runs, 2, 'two callers share one run');
    t.mock.timers.tick(500);
    await early.settled();
    assert.equal(runs, 2, 'the timer does not run it again');
  });

  test('a failed run is reported and run again by the next now(); cancel() stops the timer', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const errors: unknown[] = [];
    let attempts = 0;
    const start = deferredStart(
      100,
      async () => {
        attempts++;
        if (attempts === 1) throw new Error('first attempt fails');
      },
      (error) => errors.push(error),
    );
    t.mock.timers.tick(100);
    await start.settled();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(errors.length, 1);
    await start.now();
    assert.equal(attempts, 2);

    let ran = false;
    const cancelled = deferredStart(100, async () => void (ran = true), () => undefined);
    cancelled.cancel();
    t.mock.timers.tick(200);
    await cancelled.settled();
    assert.equal(ran, false);
  });

  test('now() after cancel() does not start the job: it answers shutting_down, or joins a run in progress', async () => {
    let runs = 0;
    const stopped = deferredStart(100_000, async () => void runs++, () => undefined);
    stopped.cancel();
    await assert.rejects(stopped.now(), (error: unknown) => (error as AuditError).code === ErrorCodes.ShuttingDown);
    assert.equal(runs, 0);

    let finish: () => void = () => undefined;
    const running = deferredStart(100_000, () => new Promise<void>((resolve) => (finish = resolve)), () => undefined);
    const first = running.now();
    running.cancel();
    const joined = running.now();
    finish();
    await Promise.all([first, joined]);
    await running.now();
  });
});
