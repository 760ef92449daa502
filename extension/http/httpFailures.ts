/** Helpers shared by the extension's HTTP clients (Lakera Guard, model endpoints, telemetry forwarder). */

/** Milliseconds from a `Retry-After` header (delta-seconds or HTTP date), if it has a usable value. */
export function retryAfterMs(header: string | null): number | undefined {
  if (header === null) return undefined;
  const trimmed = header.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - Date.now());
}

/** Whole seconds from a `Retry-After` header, rounded up. */
export function retryAfterSeconds(header: string | null): number | undefined {
  const ms = retryAfterMs(header);
  return ms === undefined ? undefined : Math.ceil(ms / 1000);
}

/**
 * Why a fetch failed, e.g. "fetch failed / ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:9". undici hides
 * the real reason in `cause`, and "fetch failed" alone tells the user nothing.
 */
export function describeNetworkError(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current instanceof Error; depth++) {
    const code = 'code' in current && typeof current.code === 'string' ? current.code : undefined;
    parts.push(code === undefined ? current.message : `${code}: ${current.message}`);
    current = current.cause;
  }
  return parts.length === 0 ? String(error) : parts.join(' / ');
}

/** The error as a cause, unless anything in its chain mentions the secret (then it is left out). */
export function causeWithoutSecret(error: unknown, secret: string | undefined): unknown {
  if (secret === undefined || secret === '') return error;
  let current: unknown = error;
  for (let depth = 0; depth < 8 && current !== undefined && current !== null; depth++) {
    const text = current instanceof Error ? `${current.message} ${current.stack ?? ''}` : String(current);
    if (text.includes(secret)) return undefined;
    current = current instanceof Error ? current.cause : undefined;
  }
  return error;
}

/**
 * An abort signal that fires after `ms` or when `linked` fires, and says which: a timeout is the
 * remote side's failure, a cancellation is not. Dispose it when the request is done.
 */
export function timeoutSignal(ms: number, linked?: AbortSignal): { signal: AbortSignal; timedOut(): boolean; dispose(): void } {
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, ms);
  const onLinkedAbort = (): void => controller.abort();
  linked?.addEventListener('abort', onLinkedAbort, { once: true });
  return {
    signal: controller.signal,
    timedOut: () => timedOut,
    dispose: () => {
      clearTimeout(timer);
      linked?.removeEventListener('abort', onLinkedAbort);
    },
  };
}
