import { randomUUID } from 'node:crypto';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { resolveDataDir } from '../daemon/client/dataDirLocation.ts';
import { DAEMON_LOG_FILE } from '../daemon/protocol/messages.ts';
import { registerAuditLogCommands } from './auditLog/auditLogCommands.ts';
import { registerExportCommands } from './exports/exportCommands.ts';
import type { ChatModel } from './chat/chatModel.ts';
import { CheckpointWitness } from './daemon/checkpointWitness.ts';
import { ChatPanels } from './chat/chatPanels.ts';
import { DaemonSupervisor } from './daemon/daemonSupervisor.ts';
import { EventQueue } from './daemon/eventQueue.ts';
import { createQueueCipher } from './daemon/queueCipher.ts';
import { configureModelEndpoint } from './models/configureEndpoint.ts';
import { EndpointModel } from './models/endpointModel.ts';
import { VscodeLmModel } from './models/vscodeLmModel.ts';
import { HeuristicScanner } from './scanning/heuristicScanner.ts';
import { scannerLabel, selectScanners } from './scanning/scannerSelection.ts';
import { secretStorageLocation, SecretNames, Secrets, type SecretName } from './secrets.ts';
import { readSettings, type Settings } from './settings.ts';
import { AuditStatusBar } from './statusBar.ts';
import { createTelemetry } from './telemetry/telemetrySetup.ts';

const NO_MODEL_HINT =
  'No chat model is available. Install a language model provider (for example GitHub Copilot), or run "AI Audit Trail: Configure Model Endpoint" to use an OpenAI-compatible endpoint (OpenAI, Azure OpenAI, Ollama, LM Studio).';

/**
 * Activation (on startup, so that the status bar shows the audit state at once; it only opens the local
 * outbox and starts connecting in the background). Order: log, secrets, the durable queue, the daemon
 * supervisor, the status bar, commands. Settings and secrets are followed while running. Everything is
 * registered in `context.subscriptions`, which VS Code disposes in reverse order on deactivation.
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
  const witness = new CheckpointWitness({ home, memory: context.globalState, warn: (m) => void vscode.window.showWarningMessage(m), log });
  const supervisor = new DaemonSupervisor({
    home,
    cliPath: context.asAbsolutePath(join('dist', 'cli.mjs')),
    env: process.env,
    autoStart: settings.autoStartDaemon,
    queue,
    log,
    witness,
    bundledVersion: String((context.extension.packageJSON as { version?: unknown }).version),
  });
  context.subscriptions.push({ dispose: () => supervisor.dispose() }, witness);
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

  // The forwarder is rebuilt when its settings or its token change (it reads both once).
  let telemetry = createTelemetry(settings, secrets, log);
  const rebuildTelemetry = () => {
    telemetry.dispose();
    telemetry = createTelemetry(settings, secrets, log);
  };
  context.subscriptions.push({ dispose: () => telemetry.dispose() });

  let lakeraKey = await secrets.get(SecretNames.lakeraApiKey);
  let endpointKey = await secrets.get(SecretNames.endpointApiKey);
  const heuristic = new HeuristicScanner();
  const scanners = () => selectScanners(lakeraKey, settings, heuristic);
  const models = async (): Promise<ChatModel[]> => {
    const lm = (await vscode.lm.selectChatModels()).map((m) => new VscodeLmModel(m));
    const endpoint: ChatModel[] =
      settings.endpoint.baseUrl !== '' && settings.endpoint.model !== ''
        ? [new EndpointModel({ ...settings.endpoint, ...(endpointKey === undefined ? {} : { apiKey: endpointKey }) })]
        : [];
    return [...lm, ...endpoint];
  };
  const sessionId = randomUUID();
  const osUser = userInfo().username;
  const record = async (event: Record<string, unknown>): Promise<string> => {
    const key = await queue.enqueue(event);
    supervisor.flush();
    telemetry.forward(event);
    return key;
  };

  const panels = new ChatPanels({
    extensionUri: context.extensionUri,
    models,
    scanners,
    policy: () => settings.policy,
    record,
    revealAnswer: () => settings.revealAnswer,
    scannerLabel: () => scannerLabel(lakeraKey, settings),
    noModelHint: NO_MODEL_HINT,
    // Getters: each recorded event reads the settings as they are now (a changed user id or project).
    session: {
      sessionId,
      get userId() {
        return settings.userId === '' ? osUser : settings.userId;
      },
      get workspace() {
        return vscode.workspace.name;
      },
      get projectId() {
        return settings.lakeraProjectId === '' ? undefined : settings.lakeraProjectId;
      },
    },
    log,
    onAudited: (listener) => {
      const sub = queue.onAck((key, ack) => listener(key, ack.seq));
      return { dispose: () => sub.dispose() };
    },
  });
  context.subscriptions.push(panels);
  const openChat = () => panels.show();

  // Settings and secrets are followed while running: every open panel shows the change at once.
  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (!e.affectsConfiguration('aiAuditTrail')) return;
      const before = settings;
      settings = readSettings();
      if (settings.policyError !== null && settings.policyError !== before.policyError) {
        void vscode.window.showWarningMessage(`AI Audit Trail: the scanning policy setting is invalid (${settings.policyError}); the default policy applies.`);
      }
      supervisor.setAutoStart(settings.autoStartDaemon);
      if (JSON.stringify(settings.telemetry) !== JSON.stringify(before.telemetry)) rebuildTelemetry();
      if (settings.dataDir !== before.dataDir) {
        void vscode.window.showInformationMessage('AI Audit Trail: the new data folder is used after the window reloads.', 'Reload Window').then((choice) => {
          if (choice === 'Reload Window') void vscode.commands.executeCommand('workbench.action.reloadWindow');
        });
      }
      void panels.refreshAll();
    }),
    secrets.onDidChange((name) => {
      void (async () => {
        if (name === SecretNames.lakeraApiKey) lakeraKey = await secrets.get(SecretNames.lakeraApiKey);
        else if (name === SecretNames.endpointApiKey) endpointKey = await secrets.get(SecretNames.endpointApiKey);
        else if (name === SecretNames.telemetryToken) rebuildTelemetry();
        else return;
        await panels.refreshAll();
      })();
    }),
  );

  const saveSecret = async (name: SecretName, value: string) => {
    await secrets.set(name, value);
    void vscode.window.showInformationMessage(`Saved in ${secretStorageLocation(vscode.env.uiKind === vscode.UIKind.Web)}.`);
  };
  const setSecret = async (name: SecretName, prompt: string) => {
    const value = await vscode.window.showInputBox({ prompt, password: true, ignoreFocusOut: true });
    if (value === undefined || value.trim() === '') return;
    await saveSecret(name, value.trim());
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
      const saved = await configureModelEndpoint({
        settings: settings.endpoint,
        secrets,
        saveKey: (value) => saveSecret(SecretNames.endpointApiKey, value),
        log,
      });
      if (!saved) return;
      // The change events may come later than this: read both now, so that the panels show it at once.
      settings = readSettings();
      endpointKey = await secrets.get(SecretNames.endpointApiKey);
      await panels.refreshAll();
    }),
  );
  return { supervisor, queue };
}

export function deactivate(): void {
  // Everything is in context.subscriptions; the daemon keeps running for other windows and tools.
}
