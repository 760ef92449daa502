import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import type { DaemonClient } from '../../daemon/client/daemonClient.ts';
import { runCliProcess, startDaemonProcess, type DaemonProcess } from '../support/daemonProcess.ts';
import { suiteTempDirs } from '../support/suiteTempDirs.ts';

/*
 * Small batches are fdatasync'ed on the daemon's event loop while recent syncs were quick (session 6). Attacked
 * with a real daemon whose fdatasync is wrapped (LD_PRELOAD, a few lines of C): killed right before and right
 * after the sync of a single-event batch (nothing acknowledged may be lost), and a disk that stalls now and then
 * (a sync on the loop holds every other connection for as long as the disk takes).
 */

const MASTER_KEY = randomBytes(32).toString('base64');
const ENV = { AI_AUDIT_MASTER_KEY: MASTER_KEY };
const dir = suiteTempDirs('slow-sync');

/**
 * fdatasync wrapped: before each call it reads the control file: `sleep MS` (then syncs), `kill-before` (SIGKILL
 * before syncing), `kill-after` (after), anything else nothing. Each call is logged: thread id, process id,
 * milliseconds taken.
 */
const SHIM = `
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
static double now_ms(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e3 + t.tv_nsec / 1e6; }
int fdatasync(int fd) {
  static int (*real)(int) = 0;
  if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
  char command[64] = {0};
  const char *control = getenv("SHIM_CONTROL");
  if (control) { int c = open(control, O_RDONLY); if (c >= 0) { ssize_t n = read(c, command, sizeof command - 1); (void)n; close(c); } }
  double started = now_ms();
  if (strncmp(command, "kill-before", 11) == 0) kill(getpid(), SIGKILL);
  if (strncmp(command, "sleep ", 6) == 0) usleep(atoi(command + 6) * 1000);
  int result = real(fd);
  if (strncmp(command, "kill-after", 10) == 0) kill(getpid(), SIGKILL);
  const char *log = getenv("SHIM_LOG");
  if (log) {
    char line[96];
    int length = snprintf(line, sizeof line, "%ld %d %.1f\\n", (long)syscall(SYS_gettid), (int)getpid(), now_ms() - started);
    int l = open(log, O_WRONLY | O_APPEND | O_CREAT, 0600);
    if (l >= 0) { ssize_t n = write(l, line, length); (void)n; close(l); }
  }
  return result;
}
`;

function hasCompiler(): boolean {
  try {
    execFileSync('gcc', ['--version'], { stdio: 'ignore' });
    return process.platform === 'linux';
  } catch {
    return false;
  }
}

interface Sync {
  onLoop: boolean;
  ms: number;
}

describe('fdatasync on the event loop, attacked through a wrapped fdatasync', { skip: !hasCompiler() }, () => {
  let shim: string;
  before(async () => {
    const folder = await dir('shim');
    await writeFile(join(folder, 'shim.c'), SHIM);
    shim = join(folder, 'shim.so');
    execFileSync('gcc', ['-shared', '-fPIC', '-O2', '-o', shim, join(folder, 'shim.c'), '-ldl']);
  });

  const start = async (home: string): Promise<{ daemon: DaemonProcess; control: string; log: string }> => {
    const control = join(home, '..', `${home.split('/').at(-1) ?? 'x'}.control`);
    const log = join(home, '..', `${home.split('/').at(-1) ?? 'x'}.synclog`);
    await writeFile(control, '');
    const daemon = await startDaemonProcess(home, { ...ENV, LD_PRELOAD: shim, SHIM_CONTROL: control, SHIM_LOG: log });
    return { daemon, control, log };
  };

  const syncs = async (log: string, pid: number | undefined): Promise<Sync[]> =>
    (await readFile(log, 'utf8').catch(() => ''))
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => line.split(' '))
      .filter(([, process]) => Number(process) === pid)
      .map(([thread, process, ms]) => ({ onLoop: thread === process, ms: Number(ms) }));

  const single = async (client: DaemonClient, key: string): Promise<number> => {
    const { acks } = await client.request('ingest', { events: [{ kind: 'chat.input', input: key, idempotency_key: key }] });
    const ack = acks[0];
    assert.ok(ack !== undefined && 'seq' in ack, JSON.stringify(ack));
    return ack.seq;
  };

  for (const window of ['kill-before', 'kill-after'] as const) {
    test(`SIGKILL ${window === 'kill-before' ? 'between the write and the fdatasync' : 'between the fdatasync and the ack'} of a single-event batch synced on the loop: every acked event is there, the unacked one is stored at most once`, async () => {
      const home = await dir(window);
      const first = await start(home);
      const { control, log } = first;
      let daemon = first.daemon;
      const acked = new Map<string, number>();
      const client = await daemon.connect();
      for (let i = 0; i < 50; i++) acked.set(`acked-${i}`, await single(client, `acked-${i}`));
      const before = await syncs(log, daemon.child.pid);
      assert.ok(before.some((s) => s.onLoop), 'small batches are synced on the loop');
      await writeFile(control, window);
      await assert.rejects(single(client, 'in-flight'));
      await once(daemon.child, 'exit').catch(() => undefined);
      if (daemon.child.exitCode === null && daemon.child.signalCode === null) await once(daemon.child, 'exit');
      assert.equal(daemon.child.signalCode, 'SIGKILL');
      await client.dispose().catch(() => undefined);

      daemon = (await start(home)).daemon;
      try {
        const again = await daemon.connect();
        for (const [key, seq] of acked) {
          const { entry } = await again.request('get', { seq });
          assert.equal(entry.idempotency_key, key);
          assert.equal(await single(again, key), seq, `${key} is answered as the same entry`);
        }
        // The unacked event: resent, it is stored once (if the kill came after its sync, as a duplicate).
        const resent = await single(again, 'in-flight');
        const page = await again.request('query', { limit: 1000 });
        assert.equal(page.entries.filter((e) => e.idempotency_key === 'in-flight').length, 1);
        assert.ok(resent > Math.max(...acked.values()));
        await again.dispose();
      } finally {
        assert.equal(await daemon.stop(), 0);
      }
      const verified = await runCliProcess(['verify', '--home', home, '--json'], { env: ENV });
      assert.equal(verified.code, 0, verified.stdout);
    });
  }

  test('a disk that stalls now and then: at most the first stalled fdatasync holds the event loop', async () => {
    const home = await dir('stall');
    const { daemon, control, log } = await start(home);
    const STALL_MS = 300;
    try {
      const client = await daemon.connect();
      let n = 0;
      // Rounds of quick syncs, then one that stalls (a disk's writeback or journal commit getting in the way).
      for (let round = 0; round < 4; round++) {
        for (let i = 0; i < 40; i++) await single(client, `quick-${n++}`);
        await writeFile(control, `sleep ${STALL_MS}`);
        await single(client, `stalled-${n++}`);
        await writeFile(control, '');
      }
      await client.dispose();
      const all = await syncs(log, daemon.child.pid);
      // The first round's quick syncs at least (after a stall the loop is left alone for a minute).
      assert.ok(all.filter((s) => s.onLoop && s.ms < STALL_MS).length >= 30, 'quick single-event batches are synced on the loop');
      assert.equal(all.filter((s) => s.ms >= STALL_MS).length, 4, 'each stall was one sync');
      const stalledOnLoop = all.filter((s) => s.onLoop && s.ms >= STALL_MS);
      assert.ok(stalledOnLoop.length <= 1, `${stalledOnLoop.length} stalled syncs held the event loop (of 4 stalls)`);
    } finally {
      assert.equal(await daemon.stop(), 0);
    }
  });
});
