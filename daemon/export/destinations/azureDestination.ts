import { AnonymousCredential, ContainerClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import type { StoragePipelineOptions } from '@azure/storage-blob';
import type { TokenCredential } from '@azure/identity';
import type { Readable } from 'node:stream';
import type { DestinationConfig, DestinationProbe } from '../../protocol/destinations.ts';
import { ExportDestinationError } from '../exportDestination.ts';
import type { ExportDestination, ObjectBody, ObjectInfo, PutResult } from '../exportDestination.ts';
import { resultForExisting } from './existingObject.ts';
import type { ExistingObject } from './existingObject.ts';
import { folderPrefix, joinKey } from './objectKeys.ts';
import { runProbe } from './probeRun.ts';
import { isAccessDenied, isAlreadyExists, isObjectNotFound, storageError } from './storageErrors.ts';
import { BodyMismatchError, verifiedStream } from './verifiedBody.ts';

export type AzureConfig = Extract<DestinationConfig, { type: 'azure' }>;

/**
 * How the destination signs in: Microsoft Entra ID through a token credential (DefaultAzureCredential:
 * workload identity, managed identity, environment, Azure CLI…), the account's shared key, or a SAS token
 * (the query string without `?`), the last two from the OS keychain.
 */
export type AzureAuth = { kind: 'token'; credential: TokenCredential } | { kind: 'key'; accountKey: string } | { kind: 'sas'; sas: string };

export interface AzureDestinationOptions {
  /** Tries per request, the first included (the SDK's exponential retry). Default 5. */
  maxTries?: number;
  /** Bytes per staged block of a stream upload. Default 8 MiB. */
  blockSize?: number;
  /** Blocks staged at once per blob. Default 4: memory per upload is about `blockSize × concurrency`. */
  concurrency?: number;
}

/**
 * Exports to an Azure Blob Storage container (or Azurite). Bodies are streamed with `uploadStream`, which
 * stages blocks and commits them with `If-None-Match: *`, so an existing blob is never replaced.
 */
export class AzureDestination implements ExportDestination {
  readonly location: string;
  private readonly container: ContainerClient;
  private readonly prefix: string;
  private readonly blockSize: number;
  private readonly concurrency: number;
  private disposed = false;

  constructor(config: AzureConfig, auth: AzureAuth, options: AzureDestinationOptions = {}) {
    this.prefix = config.prefix;
    this.location = `azure://${config.account}/${config.container}/${config.prefix}`;
    this.blockSize = options.blockSize ?? 8 * 1024 * 1024;
    this.concurrency = options.concurrency ?? 4;
    const endpoint = checkedEndpoint(config.endpoint ?? `https://${config.account}.blob.core.windows.net`);
    const containerUrl = `${endpoint.replace(/\/+$/, '')}/${encodeURIComponent(config.container)}`;
    const pipeline: StoragePipelineOptions = {
      retryOptions: { maxTries: options.maxTries ?? 5, retryDelayInMs: 500, maxRetryDelayInMs: 30_000 },
      // No SDK logging of requests: a SAS token travels in every URL.
      userAgentOptions: { userAgentPrefix: 'ai-audit-trail' },
    };
    switch (auth.kind) {
      case 'token':
        this.container = new ContainerClient(containerUrl, auth.credential, pipeline);
        break;
      case 'key':
        this.container = new ContainerClient(containerUrl, new StorageSharedKeyCredential(config.account, auth.accountKey), pipeline);
        break;
      case 'sas':
        this.container = new ContainerClient(`${containerUrl}?${auth.sas}`, new AnonymousCredential(), pipeline);
        break;
    }
  }

  async putObject(key: string, body: ObjectBody, signal?: AbortSignal): Promise<PutResult> {
    const blob = this.container.getBlockBlobClient(joinKey(this.prefix, key));
    if (signal?.aborted === true) throw new ExportDestinationError('cancelled', 'The operation was cancelled.');
    const existing = await this.properties(key, signal);
    if (existing !== null && existing !== 'denied') return resultForExisting(key, body, existing, this.location);
    const stream = verifiedStream(body);
    try {
      const result = await blob.uploadStream(stream, this.blockSize, this.concurrency, {
        blobHTTPHeaders: { blobContentType: body.contentType, ...(body.contentEncoding && { blobContentEncoding: body.contentEncoding }) },
        metadata: { sha256: body.sha256 },
        conditions: { ifNoneMatch: '*' },
        abortSignal: signal,
      });
      return { key, existed: false, ...(result.etag && { etag: result.etag }), ...(result.versionId && { versionId: result.versionId }) };
    } catch (error: unknown) {
      if (error instanceof BodyMismatchError) throw error;
      if (isAlreadyExists(error)) {
        const now = await this.properties(key, signal);
        if (now !== null && now !== 'denied') return resultForExisting(key, body, now, this.location);
        // Write-only SAS: the blob cannot be compared; the manifest's SHA-256 lets verify-export check it.
        if (now === 'denied') return { key, existed: true };
      }
      throw storageError(error, { operation: 'write', location: this.location, key });
    } finally {
      stream.destroy();
    }
  }

  async getObject(key: string, signal?: AbortSignal): Promise<Readable> {
    try {
      const download = await this.container.getBlobClient(joinKey(this.prefix, key)).download(0, undefined, { abortSignal: signal });
      if (download.readableStreamBody === undefined) throw new ExportDestinationError('server_error', `The service sent no body for ${key}.`);
      return download.readableStreamBody as Readable;
    } catch (error: unknown) {
      throw storageError(error, { operation: 'read', location: this.location, key });
    }
  }

  async *list(prefix: string, signal?: AbortSignal): AsyncIterable<ObjectInfo> {
    const base = folderPrefix(this.prefix);
    const pages = this.container.listBlobsFlat({ prefix: `${base}${prefix}`, abortSignal: signal }).byPage({ maxPageSize: 1000 });
    while (true) {
      let page;
      try {
        page = await pages.next();
      } catch (error: unknown) {
        throw storageError(error, { operation: 'list', location: this.location });
      }
      if (page.done === true) return;
      for (const blob of page.value.segment.blobItems) {
        if (!blob.name.startsWith(base)) continue;
        yield { key: blob.name.slice(base.length), size: blob.properties.contentLength ?? 0 };
      }
    }
  }

  probe(signal?: AbortSignal): Promise<DestinationProbe> {
    return runProbe(
      {
        location: this.location,
        write: (key, body, stepSignal) => this.putObject(key, body, stepSignal),
        read: (key, stepSignal) => this.container.getBlobClient(joinKey(this.prefix, key)).downloadToBuffer(0, undefined, { abortSignal: stepSignal }),
        remove: async (key, stepSignal) => {
          await this.container.getBlobClient(joinKey(this.prefix, key)).delete({ abortSignal: stepSignal });
        },
      },
      signal,
    );
  }

  async dispose(): Promise<void> {
    // The SDK's HTTP client keeps no sockets that need closing; nothing else is held.
    this.disposed = true;
  }

  private async properties(key: string, signal: AbortSignal | undefined): Promise<ExistingObject | null | 'denied'> {
    if (this.disposed) throw new ExportDestinationError('cancelled', 'The destination was closed.');
    try {
      const properties = await this.container.getBlobClient(joinKey(this.prefix, key)).getProperties({ abortSignal: signal });
      return { size: properties.contentLength ?? -1, sha256: properties.metadata?.sha256 };
    } catch (error: unknown) {
      if (isObjectNotFound(error)) return null;
      if (isAccessDenied(error)) return 'denied';
      throw storageError(error, { operation: 'check whether an object exists at', location: this.location, key });
    }
  }
}

function checkedEndpoint(endpoint: string): string {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new ExportDestinationError('invalid_config', 'The blob endpoint is not a URL: give one like https://ACCOUNT.blob.core.windows.net.');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ExportDestinationError('invalid_config', 'The blob endpoint must be an http or https URL.');
  if (url.username !== '' || url.password !== '' || url.search !== '') {
    throw new ExportDestinationError('invalid_config', 'The blob endpoint must not carry a user, password or query (a SAS token belongs in the keychain).');
  }
  return endpoint;
}
