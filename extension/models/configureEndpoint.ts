import * as vscode from 'vscode';
import { SecretNames, type Secrets } from '../secrets.ts';
import type { Settings } from '../settings.ts';
import { OpenAiCompatibleClient } from './openAiCompatibleClient.ts';

/** How long listing the endpoint's models may take before the user types the model instead (ms). */
const LIST_TIMEOUT_MS = 15_000;

const KEEP_KEY = 'Keep the saved key';
const NEW_KEY = 'Set the API key now';
const NO_KEY = 'No key (local endpoint)';
const OTHER_MODEL = 'Another model…';

function validUrl(value: string): string | undefined {
  try {
    const url = new URL(value.trim());
    return url.protocol === 'http:' || url.protocol === 'https:' ? undefined : 'Use an http:// or https:// URL.';
  } catch {
    return 'Enter an absolute URL, e.g. https://api.openai.com/v1';
  }
}

/**
 * "Configure Model Endpoint": base URL, key (into SecretStorage), then the endpoint is tried — its
 * `/models` list is read and offered to pick from, or the user is told why it could not be read and
 * types the model — and the result is saved and confirmed. Returns whether something was saved.
 */
export async function configureModelEndpoint(options: {
  settings: Settings['endpoint'];
  secrets: Secrets;
  saveKey: (value: string) => Promise<void>;
  log: (message: string) => void;
}): Promise<boolean> {
  const { settings, secrets } = options;
  const baseUrl = (
    await vscode.window.showInputBox({
      title: 'Configure Model Endpoint (1/3)',
      prompt: 'Base URL of an OpenAI-compatible endpoint',
      placeHolder: 'https://api.openai.com/v1 · http://127.0.0.1:11434/v1 (Ollama) · http://127.0.0.1:1234/v1 (LM Studio)',
      value: settings.baseUrl,
      ignoreFocusOut: true,
      validateInput: validUrl,
    })
  )?.trim();
  if (baseUrl === undefined || baseUrl === '') return false;

  const savedKey = await secrets.get(SecretNames.endpointApiKey);
  const keyChoice = await vscode.window.showQuickPick(savedKey === undefined ? [NEW_KEY, NO_KEY] : [KEEP_KEY, NEW_KEY, NO_KEY], {
    title: 'Configure Model Endpoint (2/3)',
    placeHolder: 'API key of the endpoint (kept in SecretStorage, never in settings)',
    ignoreFocusOut: true,
  });
  if (keyChoice === undefined) return false;
  let apiKey = keyChoice === KEEP_KEY ? savedKey : undefined;
  if (keyChoice === NEW_KEY) {
    const value = (await vscode.window.showInputBox({ prompt: 'API key of the OpenAI-compatible endpoint', password: true, ignoreFocusOut: true }))?.trim();
    if (value === undefined || value === '') return false;
    apiKey = value;
  }

  const host = new URL(baseUrl).host;
  let models: string[] = [];
  let problem: string | undefined;
  if (settings.flavor === 'azure') {
    problem = 'Azure OpenAI does not list deployments to an API key';
  } else {
    try {
      const client = new OpenAiCompatibleClient({ baseUrl, model: '', flavor: 'openai', timeoutMs: LIST_TIMEOUT_MS, ...(apiKey === undefined ? {} : { apiKey }) });
      models = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Asking ${host} for its models (GET /models)…`, cancellable: true },
        (_progress, token) => {
          const controller = new AbortController();
          token.onCancellationRequested(() => controller.abort());
          return client.listModels({ signal: controller.signal });
        },
      );
      if (models.length === 0) problem = `${host} lists no models`;
    } catch (error: unknown) {
      problem = error instanceof Error ? error.message : String(error);
    }
  }
  if (problem !== undefined) {
    options.log(`configure endpoint: cannot list the models of ${host}: ${problem}`);
    void vscode.window.showWarningMessage(`Could not list the models of ${baseUrl}: ${problem}. Type the model name; the chat will show any error when it is used.`);
  }

  let model: string | undefined;
  if (models.length > 0) {
    const items = [...models.map((id) => ({ label: id, description: id === settings.model ? 'current' : '' })), { label: OTHER_MODEL, description: '' }];
    const picked = await vscode.window.showQuickPick(items, {
      title: `Configure Model Endpoint (3/3): ${models.length} models at ${host}`,
      placeHolder: 'Model to chat with',
      ignoreFocusOut: true,
    });
    if (picked === undefined) return false;
    model = picked.label === OTHER_MODEL ? undefined : picked.label;
  }
  model ??= (
    await vscode.window.showInputBox({
      title: 'Configure Model Endpoint (3/3)',
      prompt: settings.flavor === 'azure' ? 'Deployment name' : 'Model',
      value: settings.model,
      ignoreFocusOut: true,
    })
  )?.trim();
  if (model === undefined || model === '') return false;

  if (keyChoice === NEW_KEY && apiKey !== undefined) await options.saveKey(apiKey);
  if (keyChoice === NO_KEY && savedKey !== undefined) await secrets.clear(SecretNames.endpointApiKey);
  const config = vscode.workspace.getConfiguration('aiAuditTrail');
  await config.update('endpoint.baseUrl', baseUrl, vscode.ConfigurationTarget.Global);
  await config.update('endpoint.model', model, vscode.ConfigurationTarget.Global);
  const listed = problem === undefined ? `, one of ${models.length} models listed by the endpoint` : ' (not verified: the model list could not be read)';
  void vscode.window.showInformationMessage(`Model endpoint configured: ${model} at ${host}${listed}. Open chat panels use it now.`);
  return true;
}
