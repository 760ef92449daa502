import type * as SentryNode from '@sentry/node';
import { DAEMON_VERSION } from './version.ts';

type SentryModule = typeof SentryNode;

/** Where the daemon's unexpected errors go besides its log. */
export interface ErrorTracker {
  /** Reports a bug that the daemon survived (an `internal` error). */
  capture(error: unknown): void;
  /** Sends what is queued (at most 2 s) and stops. */
  close(): Promise<void>;
}

export interface ErrorTrackingOptions {
  env: NodeJS.ProcessEnv;
  /** The data dir: replaced by `<data dir>` in reports (its path may hold the user's name). */
  home: string;
  log: (message: string) => void;
}

/** Runs of characters that look like keys or tokens (base64url, hex): never sent. (Not `/`: paths.) */
const SECRET_LIKE = /[A-Za-z0-9+_=-]{32,}/g;

/** Replaces, in every string of a report, the data dir and anything secret-like. */
function scrubStrings<T>(value: T, home: string, secrets: readonly string[]): T {
  const scrub = (text: string): string => {
    let out = text.split(home).join('<data dir>');
    for (const secret of secrets) out = out.split(secret).join('[redacted]');
    return out.replace(SECRET_LIKE, '[redacted]');
  };
  const walk = (node: unknown): unknown => {
    if (typeof node === 'string') return scrub(node);
    if (Array.isArray(node)) return node.map(walk);
    if (typeof node === 'object' && node !== null) {
      return Object.fromEntries(Object.entries(node).map(([key, child]) => [key, walk(child)]));
    }
    return node;
  };
  return walk(value) as T;
}

/**
 * Error tracking (the governance seed's optional `SENTRY_DSN`): with the variable set, uncaught
 * exceptions, unhandled rejections and `internal` errors go to Sentry through `@sentry/node`, imported
 * only then. No tracing, no default PII, no breadcrumbs (they would copy log lines), no request data, and
 * every string is scrubbed of the data dir and of anything that looks like a key or token before it
 * leaves. The daemon's errors carry no content by design; the scrubbing is the second line.
 * Returns null when `SENTRY_DSN` is unset, or when the SDK cannot be loaded (logged; the daemon runs on).
 */
export async function startErrorTracking(options: ErrorTrackingOptions): Promise<ErrorTracker | null> {
  const dsn = options.env.SENTRY_DSN;
  if (dsn === undefined || dsn === '') return null;
  let Sentry: SentryModule;
  try {
    Sentry = await import('@sentry/node');
  } catch (error: unknown) {
    options.log(`error tracking is off: SENTRY_DSN is set but @sentry/node cannot be loaded (${error instanceof Error ? error.message : String(error)})`);
    return null;
  }
  const secrets = [options.env.AI_AUDIT_MASTER_KEY, dsn].filter((s): s is string => s !== undefined && s !== '');
  Sentry.init({
    dsn,
    release: `ai-audit-trail@${DAEMON_VERSION}`,
    // The host name can name a person; the reports need none.
    serverName: 'ai-audit-daemon',
    // `dataCollection` is v11's successor of `sendDefaultPii: false`: no user, cookies, headers, bodies,
    // query strings, local variables or source lines.
    dataCollection: {
      userInfo: false,
      cookies: false,
      httpHeaders: false,
      httpBodies: [],
      urlQueryParams: false,
      genAI: { inputs: false, outputs: false },
      mcp: { inputs: false, outputs: false },
      databaseQueryData: false,
      stackFrameVariables: false,
      frameContextLines: 0,
    },
    // Errors only: no tracing (no sample rate), no OpenTelemetry provider, no module load hooks.
    enableOpenTelemetrySetup: false,
    enableRuntimeChannelInjection: false,
    defaultIntegrations: false,
    integrations: [
      Sentry.onUncaughtExceptionIntegration(),
      Sentry.onUnhandledRejectionIntegration(),
      Sentry.linkedErrorsIntegration(),
      Sentry.dedupeIntegration(),
    ],
    maxBreadcrumbs: 0,
    beforeBreadcrumb: () => null,
    beforeSend: (event) => {
      delete event.request;
      delete event.user;
      delete event.extra;
      delete event.breadcrumbs;
      return scrubStrings(event, options.home, secrets);
    },
  });
  options.log('error tracking: unexpected errors are reported to SENTRY_DSN (no content, no secrets)');
  return {
    capture: (error) => {
      Sentry.captureException(error);
    },
    close: async () => {
      await Sentry.close(2000);
    },
  };
}
