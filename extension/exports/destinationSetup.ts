import * as vscode from 'vscode';
import type { DaemonClient } from '../../daemon/client/daemonClient.ts';
import { DestinationConfig as DestinationConfigSchema, type DestinationConfig, type DestinationSecretKind, type DestinationType } from '../../daemon/protocol/destinations.ts';

const PROVIDERS: Array<vscode.QuickPickItem & { type: DestinationType }> = [
  { label: 'Amazon S3', description: 's3', type: 's3' },
  { label: 'S3-compatible', description: 'MinIO, Ceph, Wasabi, R2, … (endpoint URL)', type: 's3-compatible' },
  { label: 'Google Cloud Storage', description: 'S3 XML API with HMAC keys', type: 'gcs' },
  { label: 'Azure Blob Storage', description: 'a container', type: 'azure' },
  { label: 'Folder', description: 'a local or mounted folder', type: 'dir' },
];

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const REF = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/;

async function ask(title: string, prompt: string, options: { value?: string; placeHolder?: string; optional?: boolean; check?: (v: string) => string | undefined } = {}): Promise<string | undefined> {
  const value = await vscode.window.showInputBox({
    title,
    prompt,
    value: options.value ?? '',
    placeHolder: options.placeHolder ?? '',
    ignoreFocusOut: true,
    validateInput: (v) => {
      if (v.trim() === '') return options.optional === true ? undefined : 'Required.';
      return options.check?.(v.trim());
    },
  });
  return value?.trim();
}

/** Where the destination's credentials come from (never the credentials themselves). */
type Credentials = { source: 'default'; profile?: string } | { source: 'keychain'; ref: string };

/** Keys typed into password boxes, on their way to the daemon's keychain (`credentials.set`); held nowhere else. */
interface NewKeys {
  kind: DestinationSecretKind;
  values: Record<string, string>;
}

/** A secret from a password box (never echoed, never kept by VS Code's input history). */
async function askSecret(title: string, prompt: string, optional = false): Promise<string | undefined> {
  const value = await vscode.window.showInputBox({
    title,
    prompt,
    password: true,
    ignoreFocusOut: true,
    validateInput: (v) => (v.trim() === '' && !optional ? 'Required.' : undefined),
  });
  return value?.trim();
}

/** The fields of destinationSecrets.ts's kinds, one password box each. */
async function askKeys(title: string, type: DestinationType): Promise<NewKeys | undefined> {
  if (type === 'azure') {
    const choice = await vscode.window.showQuickPick(
      [
        { label: 'Storage account key', id: 'azure_key' as const },
        { label: 'SAS token', description: 'container or account scope', id: 'azure_sas' as const },
      ],
      { title, placeHolder: 'Kind of key', ignoreFocusOut: true },
    );
    if (choice === undefined) return undefined;
    if (choice.id === 'azure_key') {
      const key = await askSecret(title, 'Storage account key (base64)');
      return key === undefined ? undefined : { kind: 'azure_key', values: { account_key: key } };
    }
    const sas = await askSecret(title, 'SAS token (the query string; a leading "?" is dropped)');
    return sas === undefined ? undefined : { kind: 'azure_sas', values: { sas: sas.replace(/^\?/, '') } };
  }
  const accessKeyId = await askSecret(title, type === 'gcs' ? 'HMAC access key id' : 'Access key id');
  const secretAccessKey = accessKeyId === undefined ? undefined : await askSecret(title, type === 'gcs' ? 'HMAC secret' : 'Secret access key');
  const sessionToken = secretAccessKey === undefined ? undefined : await askSecret(title, 'Session token (optional; only for temporary credentials)', true);
  if (accessKeyId === undefined || secretAccessKey === undefined || sessionToken === undefined) return undefined;
  return {
    kind: 's3',
    values: { access_key_id: accessKeyId, secret_access_key: secretAccessKey, ...(sessionToken === '' ? {} : { session_token: sessionToken }) },
  };
}

async function askCredentials(title: string, type: DestinationType, name: string): Promise<{ credentials: Credentials; keys?: NewKeys } | undefined> {
  const choice = await vscode.window.showQuickPick(
    [
      { label: 'Provider default chain', description: 'environment, profile, SSO, workload identity', id: 'default' as const },
      { label: 'Enter keys', description: "kept in the daemon's OS keychain, never in settings", id: 'new' as const },
      { label: 'Keys already in the OS keychain', description: 'stored before under a name (ref), e.g. by `ai-audit credentials set`', id: 'keychain' as const },
    ],
    { title, placeHolder: 'Credentials', ignoreFocusOut: true },
  );
  if (choice === undefined) return undefined;
  if (choice.id === 'default') {
    const profile = await ask(title, 'Profile (optional; empty: the default)', { optional: true });
    if (profile === undefined) return undefined;
    return { credentials: profile === '' ? { source: 'default' } : { source: 'default', profile } };
  }
  const ref = await ask(title, choice.id === 'new' ? 'Name to keep the keys under in the keychain (ref)' : 'Name of the keychain item (ref) that holds the keys', {
    value: choice.id === 'new' ? name : '',
    check: (v) => (REF.test(v) ? undefined : 'Letters, digits, . _ : @ -, up to 128.'),
  });
  if (ref === undefined) return undefined;
  if (choice.id === 'keychain') return { credentials: { source: 'keychain', ref } };
  const keys = await askKeys(title, type);
  return keys === undefined ? undefined : { credentials: { source: 'keychain', ref }, keys };
}

/** **Test Connection**: the daemon writes, reads back and deletes a probe object; the rights found are shown. */
async function testConnection(client: DaemonClient, name: string, config: DestinationConfig): Promise<void> {
  const probe = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Testing ${name}…` }, () => client.request('destinations.test', { config }));
  const rights = `write ${probe.write ? 'yes' : 'no'}, read ${probe.read === null ? 'not tried' : probe.read ? 'yes' : 'no'}, delete ${probe.delete === null ? 'not tried' : probe.delete ? 'yes' : 'no'}`;
  if (probe.write) void vscode.window.showInformationMessage(`${probe.location}: ${rights}. ${probe.detail.join(' ')}`);
  // The daemon's detail says what failed and what to check (endpoint, bucket, keys or rights).
  else void vscode.window.showErrorMessage(`${probe.location}: the probe object could not be written. ${probe.detail.join(' ')} Correct the destination (run "Configure Export Destination…" again) and test again; nothing is saved until you choose Save.`);
}

/**
 * **Configure Export Destination…**: provider, bucket or container, prefix, endpoint and where the
 * credentials come from (keys typed here go to the daemon's keychain with `credentials.set`, and the
 * connection is tested right away); then **Test Connection** (the daemon writes, reads back and deletes
 * a probe object) and save. Returns the saved destination's name.
 */
export async function configureDestination(client: DaemonClient): Promise<string | undefined> {
  const title = 'Configure Export Destination';
  const provider = await vscode.window.showQuickPick(PROVIDERS, { title, placeHolder: 'Provider', ignoreFocusOut: true });
  if (provider === undefined) return undefined;
  const name = await ask(title, 'A name for this destination', { placeHolder: 'audit-archive', check: (v) => (NAME.test(v) ? undefined : 'Letters, digits, dot, dash, underscore.') });
  if (name === undefined) return undefined;
  let raw: Record<string, unknown>;
  let keys: NewKeys | undefined;
  if (provider.type === 'dir') {
    const path = await ask(title, 'Folder (absolute path)');
    if (path === undefined) return undefined;
    raw = { type: 'dir', path };
  } else if (provider.type === 'azure') {
    const account = await ask(title, 'Storage account');
    const container = account === undefined ? undefined : await ask(title, 'Container');
    const endpoint = container === undefined ? undefined : await ask(title, 'Blob endpoint (optional; Azurite or sovereign clouds)', { optional: true });
    if (endpoint === undefined || account === undefined || container === undefined) return undefined;
    const asked = await askCredentials(title, provider.type, name);
    if (asked === undefined) return undefined;
    keys = asked.keys;
    raw = { type: 'azure', account, container, credentials: asked.credentials, ...(endpoint === '' ? {} : { endpoint }) };
  } else {
    const bucket = await ask(title, 'Bucket');
    if (bucket === undefined) return undefined;
    const endpoint = provider.type === 's3-compatible' ? await ask(title, 'Endpoint URL', { placeHolder: 'https://minio.example.com:9000' }) : '';
    const region = provider.type === 'gcs' || endpoint === undefined ? '' : await ask(title, 'Region (optional)', { optional: true, placeHolder: 'eu-central-1' });
    if (endpoint === undefined || region === undefined) return undefined;
    const asked = await askCredentials(title, provider.type, name);
    if (asked === undefined) return undefined;
    keys = asked.keys;
    raw = { type: provider.type, bucket, credentials: asked.credentials, ...(endpoint === '' ? {} : { endpoint }), ...(region === '' ? {} : { region }) };
  }
  const prefix = await ask(title, 'Key prefix inside the destination (optional)', { optional: true, placeHolder: 'ai-audit' });
  if (prefix === undefined) return undefined;
  if (prefix !== '') raw.prefix = prefix.replace(/^\/+/, '');
  const parsed = DestinationConfigSchema.safeParse(raw);
  if (!parsed.success) {
    void vscode.window.showErrorMessage(`The destination is not valid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}. Run the command again and correct it.`);
    return undefined;
  }
  const config = parsed.data;
  if (keys !== undefined && config.type !== 'dir' && config.credentials.source === 'keychain') {
    // Into the daemon's keychain: scheduled exports run without the editor (docs/decisions.md).
    const ref = config.credentials.ref;
    await client.request('credentials.set', { ref, kind: keys.kind, values: keys.values });
    await testConnection(client, name, config);
  }
  for (;;) {
    const action = await vscode.window.showQuickPick(['Test Connection', 'Save', 'Save without testing'], { title: `${title}: ${name}`, ignoreFocusOut: true });
    if (action === undefined) return undefined;
    if (action === 'Test Connection') {
      await testConnection(client, name, config);
      continue;
    }
    const saved = await client.request('destinations.add', { name, config, replace: true });
    void vscode.window.showInformationMessage(`Destination ${saved.name} saved: ${saved.location}`);
    return saved.name;
  }
}
