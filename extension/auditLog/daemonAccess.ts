import type { DaemonClient } from '../../daemon/client/daemonClient.ts';

/** The connection state as the audit log reads it (the daemon supervisor's, structurally). */
export type DaemonConnection =
  | { status: 'connecting' }
  | { status: 'connected'; client: DaemonClient; pid: number }
  | { status: 'disconnected'; reason: string };

/**
 * What the audit log needs of the daemon supervisor: the current client and its changes. The viewer
 * and the palette commands hold this, not the supervisor, so they cannot restart or flush it.
 */
export interface DaemonAccess {
  readonly client: DaemonClient | null;
  readonly state: DaemonConnection;
  onState(listener: (state: DaemonConnection) => void): { dispose(): void };
}
