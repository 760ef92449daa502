import { DaemonClient } from '../../daemon/client/daemonClient.ts';
import { discoveryAlive, readDiscovery } from '../../daemon/client/daemonDiscovery.ts';
import type { CheckpointWitness } from './checkpointWitness.ts';
import type { EventQueue } from './eventQueue.ts';
import { extensionClientIdentity } from './extensionIdentity.ts';
import { findOrStartDaemon, stopDaemon } from './daemonLauncher.ts';

export type ConnectionState =
  | { status: 'connecting' }
  | { status: 'connected'; client: DaemonClient; pid: number }
  | { status: 'disconnected'; reason: string; retryInMs: number };

export interface SupervisorOptions {
  home: string;
  /** The bundled CLI that runs the daemon. */
  cliPath: string;
  env: NodeJS.ProcessEnv;
  /** Start the daemon when none runs (setting `aiAuditTrail.daemon.autoStart`). */
  autoStart: boolean;
  queue: EventQueue;
  log: (message: string) => void;
  /** Checks on every connect that the store's end has not gone backwards. */
  witness?: CheckpointWitness;
  /** The bundled daemon's version: an older running daemon is replaced at the first connection. */
  bundledVersion?: string;
}

const MIN_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 10_000;

/**
 * Keeps one connection to the daemon: finds or starts it, connects with its token, reconnects with
 * exponential backoff (and jitter) after any loss, and drains the durable event queue whenever connected.
 */
export class DaemonSupervisor {
  private readonly options: SupervisorOptions;
  private autoStart: boolean;
  private stateValue: ConnectionState = { status: 'connecting' };
  private readonly listeners = new Set<(state: ConnectionState) => void>();
  private backoff = MIN_BACKOFF_MS;
  private timer: NodeJS.Timeout | null = null;
  private disposed = false;
  private connecting = false;
  /** A daemon older than the bundled one is replaced once, at the first connection (see `findOrStartDaemon`). */
  private replaceOlder = true;

  constructor(options: SupervisorOptions) {
    this.options = options;
    this.autoStart = options.autoStart;
  }

  /**
   * Follows the `daemon.autoStart` setting while running: turned on without a connection, it starts
   * the daemon now instead of at the next retry (which, with auto-start off, would never start one).
   */
  setAutoStart(autoStart: boolean): void {
    if (autoStart === this.autoStart) return;
    const turnedOn = autoStart;
    this.autoStart = autoStart;
    this.options.log(`daemon auto-start is now ${autoStart ? 'on' : 'off'}`);
    if (!turnedOn || this.disposed || this.stateValue.status === 'connected') return;
    this.backoff = MIN_BACKOFF_MS;
    void this.connect();
  }

  get state(): ConnectionState {
    return this.stateValue;
  }

  get client(): DaemonClient | null {
    return this.stateValue.status === 'connected' ? this.stateValue.client : null;
  }

  onState(listener: (state: ConnectionState) => void): { dispose(): void } {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }

  start(): void {
    void this.connect();
  }

  /** Sends what the queue holds now (after an enqueue); a failure waits for the next connection. */
  flush(): void {
    const client = this.client;
    if (client === null) return;
    this.options.queue
      .drain(async (events) => (await client.request('ingest', { events: [...events] })).acks)
      .catch((error: unknown) => {
        this.options.log(`queue: sending paused (${error instanceof Error ? error.message : String(error)})`);
        this.scheduleFlush();
      });
  }

  /** Stops the daemon and starts it again (command "Restart Daemon"; starts it even without auto-start). */
  async restart(): Promise<void> {
    const client = this.client;
    this.setState({ status: 'connecting' });
    await client?.dispose();
    await stopDaemon(this.options.home);
    this.backoff = MIN_BACKOFF_MS;
    await this.connect(true);
  }

  private flushTimer: NodeJS.Timeout | null = null;
  private scheduleFlush(): void {
    if (this.flushTimer !== null || this.disposed) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = null;
      this.flush();
    }, 1000);
  }

  private async connect(start = this.autoStart): Promise<void> {
    if (this.disposed || this.connecting) return;
    this.connecting = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    try {
      const endpoint = start
        ? await findOrStartDaemon({ home: this.options.home, cliPath: this.options.cliPath, env: this.options.env, log: this.options.log, ...(this.replaceOlder && this.options.bundledVersion !== undefined ? { replaceOlderThan: this.options.bundledVersion } : {}) })
        : await readDiscovery(this.options.home);
      this.replaceOlder = false;
      if (endpoint === null || !discoveryAlive(endpoint.discovery)) throw new Error(`no audit daemon runs for ${this.options.home}`);
      const client = await DaemonClient.connect({ port: endpoint.discovery.port, token: endpoint.token }, { client: extensionClientIdentity() });
      if (this.disposed) {
        await client.dispose();
        return;
      }
      client.onClose((error) => {
        if (this.client !== client || this.disposed) return;
        this.options.log(`lost the audit daemon: ${error.message}`);
        this.retryLater(error.message);
      });
      this.backoff = MIN_BACKOFF_MS;
      this.setState({ status: 'connected', client, pid: endpoint.discovery.pid });
      this.options.log(`connected to the audit daemon (pid ${endpoint.discovery.pid}, port ${endpoint.discovery.port})`);
      this.flush();
      this.options.witness?.check(client).catch((error: unknown) => this.options.log(`checkpoint witness: ${error instanceof Error ? error.message : String(error)}`));
    } catch (error: unknown) {
      const reason = error instanceof Error ? error.message : String(error);
      this.options.log(`cannot reach the audit daemon: ${reason}`);
      this.retryLater(reason);
    } finally {
      this.connecting = false;
    }
  }

  private retryLater(reason: string): void {
    if (this.disposed) return;
    const retryInMs = Math.round(this.backoff * (0.75 + Math.random() * 0.5));
    this.backoff = Math.min(MAX_BACKOFF_MS, this.backoff * 2);
    this.setState({ status: 'disconnected', reason, retryInMs });
    this.timer = setTimeout(() => void this.connect(), retryInMs);
  }

  private setState(state: ConnectionState): void {
    this.stateValue = state;
    for (const listener of this.listeners) listener(state);
  }

  dispose(): void {
    this.disposed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.flushTimer !== null) clearTimeout(this.flushTimer);
    const client = this.client;
    this.listeners.clear();
    void client?.dispose();
  }
}
