import * as vscode from 'vscode';
import { ScanPolicySettings, DEFAULT_POLICY, type ScanPolicy } from './scanning/scanPolicy.ts';

/** The extension's settings (`contributes.configuration` in package.json is their one definition). */
export interface Settings {
  dataDir: string;
  autoStartDaemon: boolean;
  lakeraBaseUrl: string;
  lakeraProjectId: string;
  lakeraTimeoutMs: number;
  secondOpinion: boolean;
  policy: ScanPolicy;
  policyError: string | null;
  revealAnswer: 'afterScan' | 'whileStreaming';
  endpoint: { baseUrl: string; model: string; flavor: 'openai' | 'azure'; apiVersion: string };
  telemetry: { enabled: boolean | undefined; endpoint: string; includeUserIp: boolean };
  userId: string;
}

export function readSettings(): Settings {
  const c = vscode.workspace.getConfiguration('aiAuditTrail');
  const rawPolicy = {
    categories: c.get<Record<string, string>>('scanning.policy', {}),
    defaultAction: c.get<string>('scanning.defaultAction', DEFAULT_POLICY.defaultAction),
    failMode: c.get<string>('scanning.failMode', 'closed'),
  };
  const parsed = ScanPolicySettings.safeParse(rawPolicy);
  const policy: ScanPolicy = parsed.success
    ? { ...parsed.data, categories: { ...DEFAULT_POLICY.categories, ...parsed.data.categories } }
    : DEFAULT_POLICY;
  const enabled = c.inspect<boolean>('telemetry.enabled');
  const explicitEnabled = enabled?.workspaceValue ?? enabled?.globalValue;
  return {
    dataDir: c.get<string>('dataDir', ''),
    autoStartDaemon: c.get<boolean>('daemon.autoStart', true),
    lakeraBaseUrl: c.get<string>('lakera.baseUrl', 'https://api.lakera.ai'),
    lakeraProjectId: c.get<string>('lakera.projectId', ''),
    lakeraTimeoutMs: c.get<number>('lakera.timeoutMs', 5000),
    secondOpinion: c.get<boolean>('scanning.secondOpinion', true),
    policy,
    policyError: parsed.success ? null : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
    revealAnswer: c.get<'afterScan' | 'whileStreaming'>('chat.revealAnswer', 'afterScan'),
    endpoint: {
      baseUrl: c.get<string>('endpoint.baseUrl', ''),
      model: c.get<string>('endpoint.model', ''),
      flavor: c.get<'openai' | 'azure'>('endpoint.flavor', 'openai'),
      apiVersion: c.get<string>('endpoint.apiVersion', '2024-10-21'),
    },
    telemetry: {
      enabled: explicitEnabled,
      endpoint: c.get<string>('telemetry.endpoint', ''),
      includeUserIp: c.get<boolean>('telemetry.includeUserIp', false),
    },
    userId: c.get<string>('userId', ''),
  };
}
