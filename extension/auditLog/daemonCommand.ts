import * as vscode from 'vscode';
import type { DaemonClient } from '../../daemon/client/daemonClient.ts';
import type { DaemonAccess } from './daemonAccess.ts';
import { describeFailure, NOT_CONNECTED } from './failureAdvice.ts';

/**
 * Runs a palette command's work with the connected daemon client. Without a connection, and on any
 * failure, the user is told what failed and what to do next (with buttons for the next step).
 */
export async function withDaemon(daemon: DaemonAccess, log: (message: string) => void, what: string, work: (client: DaemonClient) => Promise<void>): Promise<void> {
  const client = daemon.client;
  if (client === null) {
    const choice = await vscode.window.showErrorMessage(`${what}: ${NOT_CONNECTED}`, 'Restart Daemon', 'Show Daemon Log');
    if (choice === 'Restart Daemon') await vscode.commands.executeCommand('aiAuditTrail.restartDaemon');
    if (choice === 'Show Daemon Log') await vscode.commands.executeCommand('aiAuditTrail.showDaemonLog');
    return;
  }
  try {
    await work(client);
  } catch (error: unknown) {
    const text = describeFailure(what, error);
    log(text);
    const choice = await vscode.window.showErrorMessage(text, 'Show Daemon Log');
    if (choice === 'Show Daemon Log') await vscode.commands.executeCommand('aiAuditTrail.showDaemonLog');
  }
}
