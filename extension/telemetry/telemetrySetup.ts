import type * as vscode from 'vscode';
import { SecretNames, type Secrets } from '../secrets.ts';
import type { Settings } from '../settings.ts';
import { resolveForwarderConfig, telemetryEventFromAuditEvent, toTelemetryPayload, TelemetryForwarder } from './telemetryForwarder.ts';

/** The optional forwarder of scan telemetry, wired to settings, env and SecretStorage. */
export interface Telemetry extends vscode.Disposable {
  /** Hands a recorded scan event to the forwarder (no-op when forwarding is off). Never blocks, never throws. */
  forward(event: Readonly<Record<string, unknown>>): void;
}

export function createTelemetry(settings: Settings, secrets: Secrets, log: (message: string) => void): Telemetry {
  const config = resolveForwarderConfig({
    env: process.env,
    settings: {
      ...(settings.telemetry.enabled === undefined ? {} : { enabled: settings.telemetry.enabled }),
      ...(settings.telemetry.endpoint === '' ? {} : { endpoint: settings.telemetry.endpoint }),
      includeUserIp: settings.telemetry.includeUserIp,
    },
  });
  if (config.warning !== undefined) log(`telemetry: ${config.warning}`);
  if (!config.enabled || config.endpoint === undefined) return { forward: () => undefined, dispose: () => undefined };
  const endpoint = config.endpoint;
  let forwarder: TelemetryForwarder | null = null;
  let disposed = false;
  // The token comes from SecretStorage, asynchronously; events before it is read wait in this promise.
  const ready = secrets.get(SecretNames.telemetryToken).then((token) => {
    if (disposed) return;
    forwarder = new TelemetryForwarder({ endpoint, includeUserIp: config.includeUserIp, log, ...(token === undefined ? {} : { token }) });
  });
  return {
    forward(event) {
      const scan = telemetryEventFromAuditEvent(event);
      if (scan === undefined) return;
      const payload = toTelemetryPayload(scan, { includeUserIp: config.includeUserIp });
      void ready.then(() => forwarder?.enqueue(payload));
    },
    dispose() {
      disposed = true;
      forwarder?.dispose();
    },
  };
}
