import { randomBytes } from 'node:crypto';
import type * as vscode from 'vscode';

/** Names of what the extension keeps in SecretStorage (the OS keychain in desktop VS Code). */
export const SecretNames = {
  lakeraApiKey: 'aiAuditTrail.lakeraApiKey',
  endpointApiKey: 'aiAuditTrail.endpointApiKey',
  telemetryToken: 'aiAuditTrail.telemetryToken',
  queueKey: 'aiAuditTrail.queueKey',
} as const;
export type SecretName = (typeof SecretNames)[keyof typeof SecretNames];

/** Secrets live only here: never in settings, logs, webview state or audit events. */
export class Secrets {
  private readonly storage: vscode.SecretStorage;

  constructor(storage: vscode.SecretStorage) {
    this.storage = storage;
  }

  async get(name: SecretName): Promise<string | undefined> {
    const value = await this.storage.get(name);
    return value === undefined || value === '' ? undefined : value;
  }

  set(name: SecretName, value: string): Thenable<void> {
    return this.storage.store(name, value);
  }

  clear(name: SecretName): Thenable<void> {
    return this.storage.delete(name);
  }

  onDidChange(listener: (name: string) => void): vscode.Disposable {
    return this.storage.onDidChange((e) => listener(e.key));
  }

  /** The key that seals the event queue at rest, made on first use. */
  async queueKey(): Promise<Buffer> {
    const existing = await this.get(SecretNames.queueKey);
    if (existing !== undefined) return Buffer.from(existing, 'base64');
    const key = randomBytes(32);
    await this.set(SecretNames.queueKey, key.toString('base64'));
    return key;
  }
}

/**
 * Where SecretStorage really keeps a secret, for the message after saving one: desktop VS Code uses the
 * OS keychain; VS Code in a browser (code-server, vscode.dev) keeps it in the browser's storage,
 * encrypted with a key the server holds — not in a keychain.
 */
export function secretStorageLocation(inBrowser: boolean): string {
  return inBrowser
    ? "VS Code's secret storage, which in this browser-based VS Code is the browser's local storage, encrypted with a key kept by the VS Code server (not an OS keychain)"
    : 'the OS keychain (through VS Code SecretStorage)';
}
