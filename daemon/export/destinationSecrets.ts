import type { AsyncEntry } from '@napi-rs/keyring';
import { z } from 'zod';
import { KEYCHAIN_SERVICE } from '../keys/keychainKeyStore.ts';
import { ExportDestinationError } from './exportDestination.ts';

/**
 * The explicit credentials of one destination, as kept in the OS keychain under its `credentials.ref`.
 * - `s3`: an access key id and secret (AWS IAM, S3-compatible stores, and GCS HMAC keys alike), with a
 *   session token for temporary credentials.
 * - `azure_key`: the storage account's shared key.
 * - `azure_sas`: a SAS token (container or account scope), the query string without its leading `?`.
 * Connection strings are not kept: they repeat the account and endpoint that the destination's config
 * already holds, and the two could disagree. Take `AccountKey` or `SharedAccessSignature` out of one.
 */
export const DestinationSecret = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('s3'),
    access_key_id: z.string().min(1).max(256),
    secret_access_key: z.string().min(1).max(1024),
    session_token: z.string().min(1).max(8192).optional(),
  }),
  z.strictObject({ kind: z.literal('azure_key'), account_key: z.base64().min(1).max(1024) }),
  z.strictObject({ kind: z.literal('azure_sas'), sas: z.string().min(1).max(8192).regex(/^[^?\s][^\s]*$/, 'the SAS query string without "?"') }),
]);
export type DestinationSecret = z.infer<typeof DestinationSecret>;

/** Where destinations' explicit credentials are read from; the OS keychain in the daemon and CLI. */
export interface DestinationSecrets {
  /** The secret stored under `ref`; ExportDestinationError `credentials_missing` when there is none or it cannot be read. */
  read(ref: string): Promise<DestinationSecret>;
}

const Ref = z.string().min(1).max(128).regex(/^[A-Za-z0-9][A-Za-z0-9._:@-]*$/);

/** The keychain account of a credentials ref: one item per ref, shared by the CLI and the daemon of this user. */
export function destinationSecretAccount(ref: string): string {
  if (!Ref.safeParse(ref).success) {
    throw new ExportDestinationError(
      'invalid_config',
      'A credentials ref is 1 to 128 letters, digits, dots, dashes, underscores, colons or @, starting with a letter or digit.',
    );
  }
  return `destination:${ref}`;
}

/**
 * Destination credentials in the OS keychain (macOS Keychain, Windows Credential Manager, Secret Service
 * on Linux), one JSON item per credentials ref under service {@link KEYCHAIN_SERVICE}, account
 * `destination:<ref>`. Values never leave this class except to the SDK client that uses them: not in
 * state, logs, errors or process arguments.
 */
export class KeychainDestinationSecrets implements DestinationSecrets {
  async read(ref: string): Promise<DestinationSecret> {
    const entry = await openEntry(ref);
    const stored = await keychainCall('read destination credentials from', () => entry.getPassword());
    if (stored === null || stored === undefined) {
      throw new ExportDestinationError(
        'credentials_missing',
        `No credentials are stored under the ref "${ref}" in the OS keychain. Store them again ` +
          `(\`ai-audit credentials set ${ref} --kind s3|azure-key|azure-sas\`, values on stdin) or switch the destination to the default chain.`,
      );
    }
    return parseSecret(ref, stored);
  }

  async store(ref: string, secret: DestinationSecret): Promise<void> {
    const checked = checkDestinationSecret(secret);
    const entry = await openEntry(ref);
    await keychainCall('store destination credentials in', () => entry.setPassword(JSON.stringify(checked)));
  }

  /** Deletes the item; false when there was none. */
  async remove(ref: string): Promise<boolean> {
    const entry = await openEntry(ref);
    return keychainCall('delete destination credentials from', () => entry.deletePassword());
  }
}

/** The secret if it is valid; else ExportDestinationError `invalid_config` naming the invalid fields, never their values. */
export function checkDestinationSecret(secret: unknown): DestinationSecret {
  const checked = DestinationSecret.safeParse(secret);
  if (!checked.success) {
    const paths = checked.error.issues.map((issue) => issue.path.join('.') || '(root)');
    // Paths only: zod's issues may quote the input, which is the secret.
    throw new ExportDestinationError('invalid_config', `The credentials are not valid at ${[...new Set(paths)].join(', ')}.`);
  }
  return checked.data;
}

async function openEntry(ref: string): Promise<AsyncEntry> {
  const account = destinationSecretAccount(ref);
  // Pinned to the Secret Service on Linux, as the store's keys are (see keychainKeyStore.ts): the kernel
  // keyring fallback forgets everything at logout.
  return keychainCall('open', async () => {
    const { AsyncEntry: Entry } = await import('@napi-rs/keyring');
    return new Entry(KEYCHAIN_SERVICE, account, { linux: { store: 'secret-service' } });
  });
}

function parseSecret(ref: string, stored: string): DestinationSecret {
  let json: unknown;
  try {
    json = JSON.parse(stored);
  } catch {
    // No cause: V8's JSON error quotes the text, which is the secret.
    throw unreadable(ref, 'not JSON');
  }
  const result = DestinationSecret.safeParse(json);
  if (!result.success) throw unreadable(ref, `invalid at ${[...new Set(result.error.issues.map((issue) => issue.path.join('.') || '(root)'))].join(', ')}`);
  return result.data;
}

function unreadable(ref: string, why: string): ExportDestinationError {
  return new ExportDestinationError(
    'credentials_missing',
    `The keychain item ${KEYCHAIN_SERVICE} / destination:${ref} does not hold credentials this version can read (${why}). ` +
      'Store the credentials again under that ref.',
  );
}

async function keychainCall<T>(action: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error: unknown) {
    // Every failure (no D-Bus, no Secret Service, a locked or dismissed prompt) gets the same advice.
    // AI_AUDIT_MASTER_KEY covers the store's own keys only: destination keys have no headless fallback
    // but the provider's default chain, so the message points there.
    const reason = error instanceof Error ? error.message : String(error);
    throw new ExportDestinationError(
      'credentials_missing',
      `Could not ${action} the OS keychain (${reason}). Start a keychain — on Linux, an unlocked gnome-keyring ` +
        '(or another Secret Service) inside a D-Bus session, so that DBUS_SESSION_BUS_ADDRESS is set — or, on a ' +
        "headless server, use the provider's default credentials instead (AWS_ACCESS_KEY_ID and " +
        'AWS_SECRET_ACCESS_KEY or a profile for S3 and GCS HMAC keys, workload identity or AZURE_* variables for Azure).',
      { cause: error },
    );
  }
}
