import { setTimeout as sleep } from 'node:timers/promises';
import { ExportDestinationError } from './exportDestination.ts';

export interface RetryOptions {
  /** Attempts in all, the first included (default 6). */
  attempts?: number;
  /** First backoff in ms (default 250); doubles each retry up to `maxDelayMs` (default 15000). */
  baseDelayMs?: number;
  maxDelayMs?: number;
  signal?: AbortSignal;
  onRetry?: (error: ExportDestinationError, attempt: number, delayMs: number) => void;
}

/**
 * Runs `work` again after a retryable {@link ExportDestinationError} (throttling, 5xx, network), waiting
 * with exponential backoff and full jitter (AWS Architecture Blog, "Exponential Backoff and Jitter").
 */
export async function withRetry<T>(work: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const attempts = options.attempts ?? 6;
  const base = options.baseDelayMs ?? 250;
  const max = options.maxDelayMs ?? 15_000;
  for (let attempt = 1; ; attempt++) {
    options.signal?.throwIfAborted();
    try {
      return await work();
    } catch (error: unknown) {
      if (!(error instanceof ExportDestinationError) || !error.retryable || attempt >= attempts) throw error;
      const delay = Math.round(Math.random() * Math.min(max, base * 2 ** (attempt - 1)));
      options.onRetry?.(error, attempt, delay);
      await sleep(delay, undefined, options.signal === undefined ? {} : { signal: options.signal });
    }
  }
}
