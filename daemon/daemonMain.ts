import { ensureDataDir } from './dataDir.ts';
import { AuditError, ErrorCodes } from './protocol/errors.ts';
import { checkpointSignatureValid, readCheckpoints } from './store/checkpoints.ts';
import { createDaemonLog } from './daemonLog.ts';
import { startErrorTracking } from './errorTracking.ts';
import type { KeyMaterial } from './keys/keyMaterial.ts';
import { openKeyStore } from './keys/openKeyStore.ts';
import { PROTOCOL_VERSION } from './protocol/messages.ts';
import { createHandlers, type HandlerTable } from './server/handlers.ts';
import { deferredStart } from './deferredStart.ts';
import { acquireInstanceLock } from './server/instanceLock.ts';
import { removeDiscovery, writeDiscovery, writeToken } from './server/discovery.ts';
import { WsServer } from './server/wsServer.ts';
import { DaemonState } from './state/daemonState.ts';
import { AuditStore } from './store/auditStore.ts';
import { DAEMON_VERSION } from './version.ts';
import { ExportService } from './export/exportService.ts';
import { schedulerClockFromEnv } from './export/schedulerClock.ts';

export interface DaemonOptions {
  home: string;
  /** 0 picks a free port (the discovery file says which). */
  port: number;
  env: NodeJS.ProcessEnv;
  /** Where log lines are echoed (the CLI passes stderr). */
  echo: (line: string) => void;
  /** Segment size bound, for tests of rotation. */
  segmentMaxBytes?: number;
  /** Entries between two signed checkpoints (at most and by default 10,000), for tests of the checkpoint moment. */
  checkpointEveryEntries?: number;
}

/**
 * Refuses to run with keys that did not sign this store's checkpoints: a reset keychain item, a data dir
 * copied from another machine, or a master-key generation lost with state.json would otherwise go on
 * silently with new keys, and old encrypted content would become unreadable. A key fits when it verifies
 * any record that names it: one edited or forged record is tampering, not a wrong key, and is left to the
 * store's start-up check (read-only, docs/entry.md §7.3) instead of refusing to start with wrong advice.
 */
async function assertKeysFitStore(home: string, keys: KeyMaterial): Promise<void> {
  const { checkpoints } = await readCheckpoints(home);
  const fits = new Map<string, boolean>();
  for (const c of checkpoints) {
    if (fits.get(c.key_id) === true) continue;
    const key = keys.signingPublicKeys.get(c.key_id);
    fits.set(c.key_id, key !== undefined && checkpointSignatureValid(c, key));
  }
  const unknown = [...fits].filter(([, fit]) => !fit).map(([id]) => id);
  if (unknown.length === 0) return;
  throw new AuditError(
    ErrorCodes.KeychainUnavailable,
    `the ${keys.source === 'keychain' ? 'OS keychain' : 'AI_AUDIT_MASTER_KEY'} holds no key ${unknown.join(', ')} that signed this store's checkpoints: ` +
      (keys.source === 'keychain'
        ? 'the keychain item was reset, or this data dir comes from another machine or user. Restore the keychain item "ai-audit-trail" of this data dir (or, if checkpoints.jsonl was edited, see `ai-audit verify`).'
        : 'this is another master key, or state.json lost its key_generation. Use the master key the store was written with and set key_generation to the highest m<N> in use (or, if checkpoints.jsonl was edited, see `ai-audit verify`).'),
  );
}

export interface RunningDaemon {
  port: number;
  home: string;
  log: (message: string) => void;
  /** Stops in reverse order of start: server, timers, store (final checkpoint), discovery, lock. */
  dispose(): Promise<void>;
}

const DAY_MS = 86_400_000;
/** How long after listening the export service and the start-up retention run begin (issue 8). */
const BACKGROUND_START_DELAY_MS = 500;
/** The methods served by the export service: they wait until it has started. */
const EXPORT_METHOD = /^(export|schedules|destinations)\./;

/** The handlers, with the export service's methods waiting until `started` (which starts it if need be). */
function withExportsStarted(handlers: HandlerTable, started: () => Promise<void>): HandlerTable {
  const gated: Record<string, unknown> = { ...handlers };
  for (const [method, handler] of Object.entries(handlers) as Array<[string, (...args: unknown[]) => Promise<unknown>]>) {
    if (!EXPORT_METHOD.test(method)) continue;
    gated[method] = async (...args: unknown[]) => {
      await started();
      return handler(...args);
    };
  }
  return gated as HandlerTable;
}

/**
 * Starts a daemon on a data dir. The order matters: the lock first (one writer), then keys (a clear error
 * before anything listens), the store (torn tail repaired), and only then the port and discovery file.
 */
export async function startDaemon(options: DaemonOptions): Promise<RunningDaemon> {
  const { home } = options;
  await ensureDataDir(home);
  const log = createDaemonLog(home, options.echo);
  const disposers: Array<() => Promise<void>> = [];
  const dispose = async (): Promise<void> => {
    while (disposers.length > 0) {
      const next = disposers.pop();
      try {
        await next?.();
      } catch (error: unknown) {
        log(`shutdown step failed: ${String(error)}`);
      }
    }
  };
  try {
    // First, so that it sees every later failure, and closed last.
    const errorTracker = await startErrorTracking({ env: options.env, home, log });
    if (errorTracker !== null) disposers.push(() => errorTracker.close());
    const lock = await acquireInstanceLock(home);
    disposers.push(() => lock.dispose());
    const state = await DaemonState.open(home);
    const keyStore = openKeyStore({ home, env: options.env, generation: state.keyGeneration });
    let keys: KeyMaterial = await keyStore.load();
    await assertKeysFitStore(home, keys);
    const store = await AuditStore.open({
      home,
      keys,
      contentMode: () => state.settings.content_mode,
      log,
      ...(options.segmentMaxBytes === undefined ? {} : { segmentMaxBytes: options.segmentMaxBytes }),
      ...(options.checkpointEveryEntries === undefined ? {} : { checkpointEveryEntries: options.checkpointEveryEntries }),
    });
    disposers.push(() => store.close());

    const exports = new ExportService({
      store,
      state,
      home,
      keys: () => keys,
      log,
      ...schedulerClockFromEnv(options.env),
    });
    const keepFromSeq = (): number => exports.retentionFloor();
    let retentionStarted = false;
    const retention = setInterval(() => {
      store.runRetention(state.settings.retention_days, { keepFromSeq }).catch((error: unknown) => log(`retention failed: ${String(error)}`));
    }, DAY_MS);
    retention.unref();
    disposers.push(async () => clearInterval(retention));

    // Scheduled exports (and the recovery of runs a stop interrupted) and the retention of segments that
    // expired while the daemon was down only need to happen soon: they start a moment after the daemon
    // listens, so they do not compete with its first requests (issue 8), or at once when a request needs
    // the export service.
    const background = deferredStart(
      BACKGROUND_START_DELAY_MS,
      async () => {
        if (!retentionStarted) {
          retentionStarted = true;
          // Expired segments from while the daemon was down go now, not a day from now.
          void store.runRetention(state.settings.retention_days, { keepFromSeq }).catch((error: unknown) => log(`retention failed: ${String(error)}`));
        }
        await exports.start();
      },
      (error: unknown) => log(`export service start failed (retried on the next export request): ${String(error)}`),
    );
    const token = await writeToken(home);
    const handlers = withExportsStarted(createHandlers({
      store,
      state,
      keyStore,
      keys: () => keys,
      setKeys: (next) => {
        keys = next;
        store.setKeys(next);
      },
      version: DAEMON_VERSION,
      startedAt: Date.now(),
      exports,
    }), () => background.now());
    const server = await WsServer.start({ token, port: options.port, handlers, log, ...(errorTracker === null ? {} : { reportError: (error: unknown) => errorTracker.capture(error) }) });
    disposers.push(() => server.dispose());
    await writeDiscovery(home, {
      pid: process.pid,
      port: server.port,
      host: '127.0.0.1',
      protocol: PROTOCOL_VERSION,
      version: DAEMON_VERSION,
      started_at: new Date().toISOString(),
    });
    disposers.push(() => removeDiscovery(home));
    log(`daemon ${DAEMON_VERSION} listening on 127.0.0.1:${server.port} for ${home} (keys: ${keys.source}, ${store.entryCount} entries)`);
    disposers.push(async () => {
      background.cancel();
      await background.settled();
      await exports.dispose();
    });
    return { port: server.port, home, log, dispose };
  } catch (error: unknown) {
    await dispose();
    throw error;
  }
}
