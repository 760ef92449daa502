import { randomUUID } from 'node:crypto';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { resolveDataDir } from '../daemon/client/dataDirLocation.ts';
import { DAEMON_LOG_FILE } from '../daemon/protocol/messages.ts';
import { registerAuditLogCommands } from './auditLog/auditLogCommands.ts';
import { ChatPanel } from './chat/chatPanel.ts';
import { registerExportCommands } from './exports/exportCommands.ts';
import type { ChatModel } from './chat/chatModel.ts';
import { DaemonSupervisor } from './daemon/daemonSupervisor.ts';
import { EventQueue } from './daemon/eventQueue.ts';
import { createQueueCipher } from './daemon/queueCipher.ts';
import { EndpointModel } from './models/endpointModel.ts';
import { VscodeLmModel } from './models/vscodeLmModel.ts';
import { HeuristicScanner } from './scanning/heuristicScanner.ts';
import { LakeraScanner } from './scanning/lakeraScanner.ts';
import type { Scanner } from './scanning/scanner.ts';
import { SecretNames, Secrets, type SecretName } from './secrets.ts';
import { readSettings, type Settings } from './settings.ts';
import { AuditStatusBar } from './statusBar.ts';
import { createTelemetry } from './telemetry/telemetrySetup.ts';

const NO_MODEL_HINT =
  'No chat model is available. Install a language model provider (for example GitHub Copilot), or run "AI Audit Trail: Configure Model Endpoint" to use an OpenAI-compatible endpoint (OpenAI, Azure OpenAI, Ollama, LM Studio).';

/**
 * Activation (lazy: on the extension's commands). Order: log, secrets, the durable queue, the daemon
 * supervisor, the status bar, commands. Everything is registered in `context.subscriptions`, which VS Code
 * disposes in reverse order on deactivation.
 */
export async function activate(context: vscode.ExtensionContext): Promise<{ supervisor: DaemonSupervisor; queue: EventQueue }> {
  const output = vscode.window.createOutputChannel('AI Audit Trail', { log: true });
  context.subscriptions.push(output);
  const log = (message: string) => output.info(message);
  const secrets = new Secrets(context.secrets);
  let settings: Settings = readSettings();
  if (settings.policyError !== null) void vscode.window.showWarningMessage(`AI Audit Trail: the scanning policy setting is invalid (${settings.policyError}); the default policy applies.`);
  const home = resolveDataDir(settings.dataDir === '' ? undefined : settings.dataDir, process.env);

  const queue = await EventQueue.open(join(context.globalStorageUri.fsPath, 'outbox'), createQueueCipher(await secrets.queueKey()), log);
  context.subscriptions.push({ dispose: () => queue.dispose() });
  const supervisor = new DaemonSupervisor({
    home,
    cliPath: context.asAbsolutePath(join('dist', 'cli.mjs')),
    env: process.env,
    autoStart: settings.autoStartDaemon,
    queue,
    log,
  });
  context.subscriptions.push({ dispose: () => supervisor.dispose() });
  // One clear message the first time the daemon cannot be reached; afterwards the status bar says it.
  let warned = false;
  const warnOnce = supervisor.onState((state) => {
    if (state.status === 'connected') warned = false;
    if (state.status !== 'disconnected' || warned) return;
    warned = true;
    void vscode.window
      .showWarningMessage(`AI Audit Trail cannot reach its audit daemon: ${state.reason}. Chat events are kept in a local queue until it is back.`, 'Show Log')
      .then((choice) => {
        if (choice === 'Show Log') output.show(true);
      });
  });
  context.subscriptions.push({ dispose: () => warnOnce.dispose() });
  supervisor.start();
  context.subscriptions.push(new AuditStatusBar(supervisor, log));
  const reviewer = () => (settings.userId === '' ? userInfo().username : settings.userId);
  const exportFeature = registerExportCommands(supervisor, log);
  context.subscriptions.push(...exportFeature.disposables);
  context.subscriptions.push(...registerAuditLogCommands({ extensionUri: context.extensionUri, supervisor, reviewer, log, exportFiltered: exportFeature.exportFiltered }));

  const telemetry = createTelemetry(settings, secrets, log);
  context.subscriptions.push(telemetry);
  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('aiAuditTrail')) settings = readSettings();
    }),
  );

  let lakeraKey = await secrets.get(SecretNames.lakeraApiKey);
  let endpointKey = await secrets.get(SecretNames.endpointApiKey);
  context.subscriptions.push(
    secrets.onDidChange((name) => {
      if (name === SecretNames.lakeraApiKey) void secrets.get(SecretNames.lakeraApiKey).then((v) => (lakeraKey = v));
      if (name === SecretNames.endpointApiKey) void secrets.get(SecretNames.endpointApiKey).then((v) => (endpointKey = v));
    }),
  );

  const heuristic = new HeuristicScanner();
  const scanners = (): Scanner[] => {
    if (lakeraKey === undefined) return [heuristic];
    const lakera = new LakeraScanner({
      apiKey: lakeraKey,
      baseUrl: settings.lakeraBaseUrl,
      timeoutMs: settings.lakeraTimeoutMs,
      ...(settings.lakeraProjectId === '' ? {} : { projectId: settings.lakeraProjectId }),
    });
    return settings.secondOpinion ? [lakera, heuristic] : [lakera];
  };
  const models = async (): Promise<ChatModel[]> => {
    const lm = (await vscode.lm.selectChatModels()).map((m) => new VscodeLmModel(m));
    const endpoint: ChatModel[] =
      settings.endpoint.baseUrl !== '' && settings.endpoint.model !== ''
        ? [new EndpointModel({ ...settings.endpoint, ...(endpointKey === undefined ? {} : { apiKey: endpointKey }) })]
        : [];
    return [...lm, ...endpoint];
  };
  const sessionId = randomUUID();
  const record = async (event: Record<string, unknown>): Promise<string> => {
    const key = await queue.enqueue(event);
    supervisor.flush();
    telemetry.forward(event);
    return key;
  };

  const openChat = () =>
    ChatPanel.show({
      extensionUri: context.extensionUri,
      models,
      scanners,
      policy: () => settings.policy,
      record,
      revealAnswer: () => settings.revealAnswer,
      scannerLabel: () => (lakeraKey === undefined ? 'Scanning: local heuristic (no Lakera key set)' : settings.secondOpinion ? 'Scanning: Lakera Guard + heuristic' : 'Scanning: Lakera Guard'),
      noModelHint: NO_MODEL_HINT,
      session: {
        sessionId,
        userId: settings.userId === '' ? userInfo().username : settings.userId,
        ...(vscode.workspace.name === undefined ? {} : { workspace: vscode.workspace.name }),
        ...(settings.lakeraProjectId === '' ? {} : { projectId: settings.lakeraProjectId }),
      },
      log,
      onAudited: (listener) => {
        const sub = queue.onAck((key, ack) => listener(key, ack.seq));
        return { dispose: () => sub.dispose() };
      },
    });

  const setSecret = async (name: SecretName, prompt: string) => {
    const value = await vscode.window.showInputBox({ prompt, password: true, ignoreFocusOut: true });
    if (value === undefined || value.trim() === '') return;
    await secrets.set(name, value.trim());
    void vscode.window.showInformationMessage('Saved in the OS keychain (VS Code SecretStorage).');
  };
  const clearSecret = async (name: SecretName, label: string) => {
    await secrets.clear(name);
    void vscode.window.showInformationMessage(`${label} removed.`);
  };

  context.subscriptions.push(
    vscode.commands.registerCommand('aiAuditTrail.openChat', () => openChat()),
    vscode.commands.registerCommand('aiAuditTrail.restartDaemon', async () => {
      await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'Restarting the audit daemon…' }, () => supervisor.restart());
    }),
    vscode.commands.registerCommand('aiAuditTrail.showDaemonLog', async () => {
      output.show(true);
      const doc = await vscode.workspace.openTextDocument(vscode.Uri.file(join(home, DAEMON_LOG_FILE))).then(
        (d) => d,
        () => undefined,
      );
      if (doc !== undefined) await vscode.window.showTextDocument(doc, { preview: true });
    }),
    vscode.commands.registerCommand('aiAuditTrail.setLakeraKey', () => setSecret(SecretNames.lakeraApiKey, 'Lakera Guard API key (a Guard key, not a Platform key)')),
    vscode.commands.registerCommand('aiAuditTrail.clearLakeraKey', () => clearSecret(SecretNames.lakeraApiKey, 'The Lakera Guard API key')),
    vscode.commands.registerCommand('aiAuditTrail.setModelEndpointKey', () => setSecret(SecretNames.endpointApiKey, 'API key of the OpenAI-compatible endpoint')),
    vscode.commands.registerCommand('aiAuditTrail.clearModelEndpointKey', () => clearSecret(SecretNames.endpointApiKey, 'The model endpoint key')),
    vscode.commands.registerCommand('aiAuditTrail.configureModelEndpoint', async () => {
      const config = vscode.workspace.getConfiguration('aiAuditTrail');
      const baseUrl = await vscode.window.showInputBox({
        prompt: 'Base URL of an OpenAI-compatible endpoint',
        placeHolder: 'https://api.openai.com/v1 · http://127.0.0.1:11434/v1 (Ollama) · http://127.0.0.1:1234/v1 (LM Studio)',
        value: settings.endpoint.baseUrl,
        ignoreFocusOut: true,
      });
      if (baseUrl === undefined) return;
      const model = await vscode.window.showInputBox({ prompt: 'Model (Azure: the deployment name)', value: settings.endpoint.model, ignoreFocusOut: true });
      if (model === undefined) return;
      await config.update('endpoint.baseUrl', baseUrl.trim(), vscode.ConfigurationTarget.Global);
      await config.update('endpoint.model', model.trim(), vscode.ConfigurationTarget.Global);
      const wantsKey = await vscode.window.showQuickPick(['Set the API key now', 'No key (local endpoint)'], { ignoreFocusOut: true });
      if (wantsKey === 'Set the API key now') await setSecret(SecretNames.endpointApiKey, 'API key of the OpenAI-compatible endpoint');
    }),
  );
  return { supervisor, queue };
}

export function deactivate(): void {
  // Everything is in context.subscriptions; the daemon keeps running for other windows and tools.
}
