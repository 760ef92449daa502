import { AuditError, ErrorCodes } from './protocol/errors.ts';

/**
 * Work that must start soon but not before the daemon serves its first requests: it runs once, after
 * `delayMs`, or at once when `now()` asks for it first. A failed run is run again by the next `now()`.
 */
export interface DeferredStart {
  /**
   * Runs the job now unless it ran or is running; resolves when it has run. After `cancel()` it starts
   * nothing: it rejects with `shutting_down` unless the job ran (resolves) or is running (waits for it).
   */
  now(): Promise<void>;
  /** The job will not start any more (a running one goes on: wait with `settled`). */
  cancel(): void;
  /** Resolves when no run is in progress. */
  settled(): Promise<void>;
}

export function deferredStart(delayMs: number, job: () => Promise<void>, onError: (error: unknown) => void): DeferredStart {
  let running: Promise<void> | null = null;
  let cancelled = false;
  const run = (): Promise<void> => {
    if (running === null) {
      running = job().catch((error: unknown) => {
        running = null;
        throw error;
      });
    }
    return running;
  };
  const timer = setTimeout(() => {
    if (!cancelled) run().catch(onError);
  }, delayMs);
  return {
    now: () => {
      clearTimeout(timer);
      // The daemon is stopping: the work would start on parts being disposed.
      if (cancelled && running === null) return Promise.reject(new AuditError(ErrorCodes.ShuttingDown, 'the daemon is shutting down'));
      return run();
    },
    cancel: () => {
      cancelled = true;
      clearTimeout(timer);
    },
    settled: async () => {
      await running?.catch(() => undefined);
    },
  };
}
