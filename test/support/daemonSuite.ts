import type { DaemonClient } from '../../daemon/client/daemonClient.ts';
import { startDaemonProcess, type DaemonProcess } from './daemonProcess.ts';
import { tempDir } from './tempDir.ts';

/** A real daemon process in a fresh temporary home, with one client connected: where a wire suite starts. */
export interface DaemonSuite {
  /** The daemon's home folder (removed by `dispose`). */
  home: string;
  daemon: DaemonProcess;
  client: DaemonClient;
  /** Closes the client, stops the daemon (SIGTERM, clean exit) and removes the home, in that order. */
  dispose(): Promise<void>;
}

/**
 * Starts a daemon in `ai-audit-<prefix>-…` with `env` and connects a client, for a `before` hook (with
 * `dispose` in the matching `after`). Whatever it started is cleaned up again if a later step fails.
 */
export async function startDaemonSuite(prefix: string, env: NodeJS.ProcessEnv = {}): Promise<DaemonSuite> {
  const home = await tempDir(prefix);
  let daemon: DaemonProcess | undefined;
  try {
    daemon = await startDaemonProcess(home.path, env);
    const client = await daemon.connect();
    const started = daemon;
    let disposed: Promise<void> | undefined;
    const dispose = async (): Promise<void> => {
      await client.dispose();
      await started.stop();
      await home.dispose();
    };
    return { home: home.path, daemon, client, dispose: () => (disposed ??= dispose()) };
  } catch (error: unknown) {
    await daemon?.kill9();
    await home.dispose();
    throw error;
  }
}
