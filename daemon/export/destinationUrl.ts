import { isAbsolute, resolve } from 'node:path';
import { DestinationConfig } from '../protocol/destinations.ts';

/** The destination flags every command that reaches a destination takes (export, destinations, verify-export). */
export interface DestinationFlags {
  endpoint?: string | undefined;
  region?: string | undefined;
  pathStyle?: boolean | undefined;
  profile?: string | undefined;
  /** Name of an OS keychain item holding explicit keys (instead of the provider's default chain). */
  credentialsRef?: string | undefined;
}

export class DestinationUrlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DestinationUrlError';
  }
}

/**
 * Turns `s3://BUCKET/PREFIX`, `gs://BUCKET/PREFIX`, `azure://ACCOUNT/CONTAINER/PREFIX` or a folder path
 * into a validated {@link DestinationConfig}. `s3://` with `--endpoint` is S3-compatible. A folder is made
 * absolute against `cwd` (the daemon runs elsewhere).
 */
export function parseDestinationUrl(url: string, flags: DestinationFlags = {}, cwd = process.cwd()): DestinationConfig {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/i.exec(url);
  const credentials =
    flags.credentialsRef !== undefined
      ? { source: 'keychain' as const, ref: flags.credentialsRef }
      : { source: 'default' as const, ...(flags.profile === undefined ? {} : { profile: flags.profile }) };
  let candidate: unknown;
  if (scheme === null || scheme[1]?.toLowerCase() === 'file') {
    const path = scheme === null ? url : decodeURIComponent(scheme[2] ?? '');
    if (path === '') throw new DestinationUrlError('give a folder, s3://BUCKET/PREFIX, gs://BUCKET/PREFIX or azure://ACCOUNT/CONTAINER/PREFIX');
    if (flags.endpoint !== undefined || flags.region !== undefined || flags.profile !== undefined) {
      throw new DestinationUrlError('--endpoint, --region and --profile are for buckets, not folders');
    }
    candidate = { type: 'dir', path: isAbsolute(path) ? path : resolve(cwd, path), prefix: '' };
  } else {
    const kind = (scheme[1] ?? '').toLowerCase();
    const parts = (scheme[2] ?? '').split('/');
    const trimPrefix = (rest: string[]): string => rest.filter((p) => p !== '').join('/');
    if (kind === 's3') {
      const [bucket = '', ...rest] = parts;
      const base = { bucket, prefix: trimPrefix(rest), credentials, ...(flags.region === undefined ? {} : { region: flags.region }) };
      candidate =
        flags.endpoint === undefined
          ? { type: 's3', ...base }
          : { type: 's3-compatible', ...base, endpoint: flags.endpoint, path_style: flags.pathStyle ?? true };
    } else if (kind === 'gs' || kind === 'gcs') {
      const [bucket = '', ...rest] = parts;
      candidate = { type: 'gcs', bucket, prefix: trimPrefix(rest), credentials, ...(flags.endpoint === undefined ? {} : { endpoint: flags.endpoint }) };
    } else if (kind === 'azure' || kind === 'az') {
      const [account = '', container = '', ...rest] = parts;
      candidate = {
        type: 'azure',
        account,
        container,
        prefix: trimPrefix(rest),
        credentials,
        ...(flags.endpoint === undefined ? {} : { endpoint: flags.endpoint }),
      };
    } else {
      throw new DestinationUrlError(`unknown scheme ${kind}://: use s3://, gs://, azure:// or a folder`);
    }
  }
  const parsed = DestinationConfig.safeParse(candidate);
  if (!parsed.success) {
    throw new DestinationUrlError(
      `${url}: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'destination'}: ${i.message}`).join('; ')}`,
    );
  }
  return parsed.data;
}

/** Where a destination points, for people and manifests; never a secret. */
export function describeDestination(config: DestinationConfig): string {
  const withPrefix = (base: string, prefix: string): string => (prefix === '' ? base : `${base}/${prefix}`);
  switch (config.type) {
    case 's3':
      return withPrefix(`s3://${config.bucket}`, config.prefix);
    case 's3-compatible':
      return withPrefix(`s3://${config.bucket}`, config.prefix) + ` (${new URL(config.endpoint).origin})`;
    case 'gcs':
      return withPrefix(`gs://${config.bucket}`, config.prefix);
    case 'azure':
      return withPrefix(`azure://${config.account}/${config.container}`, config.prefix);
    case 'dir':
      return withPrefix(config.path, config.prefix);
  }
}
