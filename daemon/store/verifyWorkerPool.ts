import type * as Esbuild from 'esbuild';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { SegmentTask, SegmentWalk, WalkContext } from './segmentWalk.ts';

/** What every verify worker is started with: the signed records' seqs and hashes and a witness's seq. No key. */
export interface VerifyWorkerData {
  checkpointSeqs: number[];
  checkpointHashes: string[];
  expectSeq: number | null;
}

/** The file name of the bundled worker (dist/cli-chunks/, named by content hash); set by scripts/build.mjs. */
declare const AI_AUDIT_VERIFY_WORKER: string | undefined;

/**
 * More threads than this read the disk more than they hash: a few are enough (docs/decisions.md, session 5).
 * Also the bound for all verifies of the process together.
 */
const MAX_THREADS = 4;
/** Below this many bytes, starting threads costs more than it saves. */
const MIN_BYTES = 8 * 1024 * 1024;

/** Verify workers alive in this process (tests check that cancelling a verify ends them). */
let liveWorkers = 0;
export function liveVerifyWorkers(): number {
  return liveWorkers;
}

/**
 * How many worker threads a verify of `bytes` in `segments` segments uses: 0 (walk on this thread) for small
 * stores, else one per available CPU, at most {@link MAX_THREADS} and one per segment. `requested` (the
 * option, or `AI_AUDIT_VERIFY_WORKERS`, a knob for tests) sets the number whatever the size.
 */
export function verifyThreads(bytes: number, segments: number, requested: number | undefined): number {
  const env = Number(process.env.AI_AUDIT_VERIFY_WORKERS);
  const forced = requested ?? (process.env.AI_AUDIT_VERIFY_WORKERS !== undefined && Number.isInteger(env) && env >= 0 ? env : undefined);
  const threads = forced ?? (bytes < MIN_BYTES ? 0 : Math.min(availableParallelism(), MAX_THREADS));
  const useful = Math.min(threads, segments);
  return useful >= 2 || (forced !== undefined && useful >= 1) ? useful : 0;
}

function startWorker(workerData: VerifyWorkerData): Worker {
  // The bundle (dist/cli-main.cjs, a CommonJS script) finds the worker in dist/cli-chunks/, beside it.
  if (typeof AI_AUDIT_VERIFY_WORKER === 'string') return new Worker(join(__dirname, 'cli-chunks', AI_AUDIT_VERIFY_WORKER), { workerData });
  return new Worker(sourceWorkerUrl(), { workerData });
}

let sourceWorker: URL | undefined;

/**
 * From the sources (tests, benchmarks under tsx) there is no built worker, and a worker thread does not
 * inherit tsx's loader (registering it in each costs about half a second of CPU): the worker is bundled
 * once per process with esbuild (a dev dependency) and started from its text, as the built one would be.
 */
function sourceWorkerUrl(): URL {
  if (sourceWorker === undefined) {
    const load = createRequire(import.meta.url);
    const esbuild = load('esbuild') as typeof Esbuild;
    const built = esbuild.buildSync({ entryPoints: [fileURLToPath(new URL('./verifyWorker.ts', import.meta.url))], bundle: true, platform: 'node', format: 'esm', target: 'node20', write: false });
    sourceWorker = new URL(`data:text/javascript,${encodeURIComponent(built.outputFiles[0]?.text ?? '')}`);
  }
  return sourceWorker;
}

/**
 * Walks `tasks` on `threads` worker threads (each takes the next segment when it is done with one) and yields
 * their results in task order, as they become available. A worker that fails (its file missing after an
 * upgrade, a crash) yields a doubt for the segment it had: the caller then walks on its own thread. Every
 * worker ends when the iteration ends, however it ends; `signal` aborts it with the signal's reason.
 * `whileStarting` is called once the workers are started, before the first result is awaited.
 */
export async function* walkSegmentsInWorkers(
  tasks: readonly SegmentTask[],
  context: WalkContext,
  threads: number,
  signal?: AbortSignal,
  whileStarting?: () => void,
): AsyncGenerator<SegmentWalk> {
  signal?.throwIfAborted();
  const data: VerifyWorkerData = { checkpointSeqs: [...context.checkpoints.keys()], checkpointHashes: [...context.checkpoints.values()], expectSeq: context.expectSeq };
  const results = new Map<number, SegmentWalk>();
  let wake: (() => void) | null = null;
  let next = 0;
  const notify = (): void => {
    const w = wake;
    wake = null;
    w?.();
  };
  const doubt = (index: number, reason: string): SegmentWalk => ({ index, doubt: reason }) as SegmentWalk;
  const workers: Worker[] = [];
  const assign = (worker: Worker, held: { index: number }): void => {
    const task = tasks[next];
    if (task === undefined) return;
    next++;
    held.index = task.index;
    worker.postMessage(task);
  };
  for (let t = 0; t < threads; t++) {
    // At most MAX_THREADS verify workers in the whole process, however many verifies run at once (a client may
    // send 16 at a time on each connection; each thread has a V8 heap of its own): a verify that finds none
    // free walks on its own thread, as a small store does.
    if (liveWorkers >= MAX_THREADS) break;
    let worker: Worker;
    try {
      worker = startWorker(data);
    } catch {
      // No worker (a build without it, or one that cannot start): the segments are walked on this thread.
      break;
    }
    liveWorkers++;
    workers.push(worker);
    const held = { index: -1 };
    worker.on('message', (result: SegmentWalk) => {
      held.index = -1;
      results.set(result.index, result);
      assign(worker, held);
      notify();
    });
    worker.on('error', (error) => {
      if (held.index >= 0) results.set(held.index, doubt(held.index, `worker failed: ${String((error as NodeJS.ErrnoException).code ?? 'error')}`));
      held.index = -1;
      notify();
    });
    worker.on('exit', () => {
      liveWorkers--;
      if (held.index >= 0 && !results.has(held.index)) results.set(held.index, doubt(held.index, 'worker exited'));
      notify();
    });
    assign(worker, held);
  }
  // Work for this thread while the workers start and walk (their threads run meanwhile).
  whileStarting?.();
  const onAbort = (): void => notify();
  signal?.addEventListener('abort', onAbort);
  try {
    for (const task of tasks) {
      for (;;) {
        signal?.throwIfAborted();
        const result = results.get(task.index);
        if (result !== undefined) {
          results.delete(task.index);
          yield result;
          break;
        }
        // Every worker ended before it took this task: nothing will arrive.
        if (workers.every((w) => w.threadId === -1)) {
          yield doubt(task.index, 'no worker');
          break;
        }
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
