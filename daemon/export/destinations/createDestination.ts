import { importChunk } from '../../bundledChunk.ts';
import type { DestinationConfig } from '../../protocol/destinations.ts';
import type { DestinationSecret, DestinationSecrets } from '../destinationSecrets.ts';
import { ExportDestinationError } from '../exportDestination.ts';
import type { ExportDestination } from '../exportDestination.ts';
import type { AzureAuth, AzureDestinationOptions } from './azureDestination.ts';
import type { S3DestinationOptions } from './s3Destination.ts';

/** Tuning for tests and benchmarks; production uses the defaults. Never credentials. */
export interface DestinationTuning {
  s3?: Omit<S3DestinationOptions, 'keys'>;
  azure?: AzureDestinationOptions;
}

/**
 * The backend for a destination, with its credentials resolved: from the provider's default chain, or
 * from `secrets` under the destination's `credentials.ref`. The caller disposes it.
 */
export async function createDestination(config: DestinationConfig, secrets: DestinationSecrets, tuning: DestinationTuning = {}): Promise<ExportDestination> {
  switch (config.type) {
    case 's3':
    case 's3-compatible':
    case 'gcs': {
      // The SDKs are loaded on first use, from chunks of their own (scripts/build.mjs): they were most of the
      // daemon's start-up and of its idle memory.
      const { S3Destination } = await importChunk(() => import('./s3Destination.ts'));
      if (config.credentials.source === 'default') return new S3Destination(config, { ...tuning.s3 });
      const secret = await secrets.read(config.credentials.ref);
      if (secret.kind !== 's3') throw wrongKind(config.credentials.ref, secret, config.type === 'gcs' ? 'an HMAC key' : 'an access key');
      const keys = {
        accessKeyId: secret.access_key_id,
        secretAccessKey: secret.secret_access_key,
        ...(secret.session_token !== undefined && { sessionToken: secret.session_token }),
      };
      return new S3Destination(config, { ...tuning.s3, keys });
    }
    case 'azure': {
      const { AzureDestination } = await importChunk(() => import('./azureDestination.ts'));
      return new AzureDestination(config, await azureAuth(config, secrets), tuning.azure);
    }
    case 'dir':
      throw new ExportDestinationError(
        'invalid_config',
        'This build has no folder (dir) destination backend: export to S3, an S3-compatible store, GCS or Azure, or update.',
      );
  }
}

async function azureAuth(config: Extract<DestinationConfig, { type: 'azure' }>, secrets: DestinationSecrets): Promise<AzureAuth> {
  if (config.credentials.source === 'default') {
    if (config.credentials.profile !== undefined) {
      throw new ExportDestinationError('invalid_config', 'Azure destinations take no profile: leave it out, or store a key or SAS token in the keychain.');
    }
    // Loaded on demand: it is large, and only default-chain Azure destinations need it.
    const { DefaultAzureCredential } = await importChunk(() => import('@azure/identity'));
    return { kind: 'token', credential: new DefaultAzureCredential() };
  }
  const secret = await secrets.read(config.credentials.ref);
  if (secret.kind === 'azure_key') return { kind: 'key', accountKey: secret.account_key };
  if (secret.kind === 'azure_sas') return { kind: 'sas', sas: secret.sas };
  throw wrongKind(config.credentials.ref, secret, 'an account key or a SAS token');
}

function wrongKind(ref: string, secret: DestinationSecret, wanted: string): ExportDestinationError {
  return new ExportDestinationError(
    'invalid_config',
    `The keychain item under the ref "${ref}" holds credentials of kind ${secret.kind}, but this destination needs ${wanted}. ` +
      'Store the right credentials under that ref, or give the destination another ref.',
  );
}
