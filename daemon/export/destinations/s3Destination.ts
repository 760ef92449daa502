import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import type { PutObjectCommandInput, S3ClientConfig } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { Readable } from 'node:stream';
import type { DestinationConfig, DestinationProbe } from '../../protocol/destinations.ts';
import { ExportDestinationError } from '../exportDestination.ts';
import type { ExportDestination, ObjectBody, ObjectInfo, PutResult } from '../exportDestination.ts';
import { resultForExisting } from './existingObject.ts';
import type { ExistingObject } from './existingObject.ts';
import { folderPrefix, joinKey } from './objectKeys.ts';
import { runProbe } from './probeRun.ts';
import { isAccessDenied, isAlreadyExists, isObjectNotFound, storageError } from './storageErrors.ts';
import { BodyMismatchError, verifiedBytes, verifiedStream } from './verifiedBody.ts';

export type S3LikeConfig = Extract<DestinationConfig, { type: 's3' | 's3-compatible' | 'gcs' }>;

/** Explicit keys: an AWS access key, an S3-compatible store's key, or a GCS HMAC key. */
export interface S3Keys {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface S3DestinationOptions {
  /** Explicit keys; without them the AWS SDK's default chain (environment, profile, SSO, web identity). */
  keys?: S3Keys;
  /** Attempts per request, the first included, with the SDK's standard retry (exponential backoff, full jitter). Default 5. */
  maxAttempts?: number;
  /** Bytes per multipart part; bodies larger than one part go multipart. Default 8 MiB (the AWS CLI's), minimum 5 MiB. */
  partSize?: number;
  /** Parts uploaded at once per object. Default 4: memory per upload is about `partSize × queueSize`. */
  queueSize?: number;
  /** Keys per ListObjectsV2 page. Default 1000, the service's maximum. */
  pageSize?: number;
}

const DEFAULT_PART_SIZE = 8 * 1024 * 1024;
const DAY_MS = 86_400_000;

/**
 * Exports to Amazon S3, an S3-compatible store (MinIO, R2, Wasabi, Spaces, Ceph…) or Google Cloud Storage
 * through its S3 XML API with HMAC keys. Every body goes through lib-storage's `Upload`, which buffers
 * parts: bodies reach the SDK as bytes, never as a stream, so aws-chunked framing never ends up inside an
 * object, whatever the checksum mode.
 */
export class S3Destination implements ExportDestination {
  readonly location: string;
  private readonly client: S3Client;
  private readonly config: S3LikeConfig;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly partSize: number;
  private readonly queueSize: number;
  private readonly pageSize: number;
  /** Whether writes carry `If-None-Match: *`; switched off for good when the server says it cannot. */
  private conditionalWrites: boolean;
  private disposed = false;

  constructor(config: S3LikeConfig, options: S3DestinationOptions = {}) {
    this.config = config;
    this.bucket = config.bucket;
    this.prefix = config.prefix;
    this.location = `${config.type === 'gcs' ? 'gs' : 's3'}://${config.bucket}/${config.prefix}`;
    this.partSize = Math.max(5 * 1024 * 1024, options.partSize ?? DEFAULT_PART_SIZE);
    this.queueSize = Math.max(1, options.queueSize ?? 4);
    this.pageSize = Math.min(1000, Math.max(1, options.pageSize ?? 1000));
    // GCS takes its own precondition header instead (see below).
    this.conditionalWrites = config.type !== 'gcs';
    this.client = new S3Client(clientConfig(config, options));
    if (config.type === 'gcs') {
      // GCS's XML API documents `x-goog-if-generation-match: 0` ("only if no live object exists") for
      // uploads; it answers 412 like S3's If-None-Match.
      this.client.middlewareStack.add(
        (next, context) => (args) => {
          const request = args.request as { headers?: Record<string, string> };
          if ((context.commandName === 'PutObjectCommand' || context.commandName === 'CompleteMultipartUploadCommand') && request.headers) {
            request.headers['x-goog-if-generation-match'] = '0';
          }
          return next(args);
        },
        { step: 'build', name: 'gcsIfGenerationMatch' },
      );
    }
  }

  async putObject(key: string, body: ObjectBody, signal?: AbortSignal): Promise<PutResult> {
    const fullKey = joinKey(this.prefix, key);
    const call = { operation: 'write', location: this.location, key };
    throwIfAborted(signal);
    // Look first: a run resumed after a crash finds its own objects, and servers without conditional
    // writes (s3rver, older S3-compatible stores) still never overwrite.
    const existing = await this.head(fullKey, signal);
    if (existing !== null && existing !== 'denied') return resultForExisting(key, body, existing, this.location);
    try {
      const result = await this.upload(fullKey, body, signal);
      return { key, existed: false, ...(result.etag && { etag: result.etag }), ...(result.versionId && { versionId: result.versionId }) };
    } catch (error: unknown) {
      if (error instanceof BodyMismatchError) throw error;
      if (isAlreadyExists(error)) {
        // Written meanwhile, or by an earlier attempt of this very request whose answer was lost.
        const now = await this.head(fullKey, signal);
        if (now !== null && now !== 'denied') return resultForExisting(key, body, now, this.location);
        // PutObject-only rights: the object cannot be compared. Its name carries the run's seq range and
        // the manifest its SHA-256, so verify-export catches a different one.
        if (now === 'denied') return { key, existed: true };
      }
      throw storageError(error, call);
    }
  }

  async getObject(key: string, signal?: AbortSignal): Promise<Readable> {
    const fullKey = joinKey(this.prefix, key);
    try {
      const result = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: fullKey }), { abortSignal: signal });
      return result.Body as Readable;
    } catch (error: unknown) {
      throw storageError(error, { operation: 'read', location: this.location, key });
    }
  }

  async *list(prefix: string, signal?: AbortSignal): AsyncIterable<ObjectInfo> {
    const base = folderPrefix(this.prefix);
    let token: string | undefined;
    do {
      let page;
      try {
        page = await this.client.send(
          new ListObjectsV2Command({ Bucket: this.bucket, Prefix: `${base}${prefix}`, ContinuationToken: token, MaxKeys: this.pageSize }),
          { abortSignal: signal },
        );
      } catch (error: unknown) {
        throw storageError(error, { operation: 'list', location: this.location });
      }
      for (const object of page.Contents ?? []) {
        if (object.Key === undefined || !object.Key.startsWith(base)) continue;
        yield { key: object.Key.slice(base.length), size: object.Size ?? 0 };
      }
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
  }

  async probe(signal?: AbortSignal): Promise<DestinationProbe> {
    const probe = await runProbe(
      {
        location: this.location,
        write: (key, body, stepSignal) => this.putObject(key, body, stepSignal),
        read: async (key, stepSignal) => Buffer.concat(await (await this.getObject(key, stepSignal)).toArray()),
        remove: async (key, stepSignal) => {
          await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: joinKey(this.prefix, key) }), { abortSignal: stepSignal });
        },
      },
      signal,
    );
    if (this.config.type !== 'gcs' && this.config.object_lock !== undefined && probe.delete === true) {
      probe.detail.push('note: with Object Lock the delete only added a delete marker; the locked version stays until its retention ends');
    }
    return probe;
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.client.destroy();
  }

  /** Size and `sha256` metadata of an object; null when absent; `denied` without the right to look. */
  private async head(fullKey: string, signal: AbortSignal | undefined): Promise<ExistingObject | null | 'denied'> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: fullKey }), { abortSignal: signal });
      return { size: head.ContentLength ?? -1, sha256: head.Metadata?.sha256 };
    } catch (error: unknown) {
      if (isObjectNotFound(error)) return null;
      if (isAccessDenied(error)) return 'denied';
      throw storageError(error, { operation: 'check whether an object exists at', location: this.location, key: fullKey.slice(folderPrefix(this.prefix).length) });
    }
  }

  private async upload(fullKey: string, body: ObjectBody, signal: AbortSignal | undefined): Promise<{ etag?: string; versionId?: string }> {
    try {
      return await this.uploadOnce(fullKey, body, signal);
    } catch (error: unknown) {
      // A store that cannot evaluate If-None-Match says so with 501; writing without it is still safe
      // against overwrites thanks to the HEAD before.
      if (!this.conditionalWrites || !isNotImplemented(error)) throw error;
      this.conditionalWrites = false;
      return this.uploadOnce(fullKey, body, signal);
    }
  }

  private async uploadOnce(fullKey: string, body: ObjectBody, signal: AbortSignal | undefined): Promise<{ etag?: string; versionId?: string }> {
    const config = this.config;
    // A body that fits one request goes as bytes when it can be read at once: lib-storage sends those as
    // they are, where a stream is collected into a part first (a copy, and the stream's own costs).
    const read = body.read?.bind(body);
    const params: PutObjectCommandInput = {
      Bucket: this.bucket,
      Key: fullKey,
      Body: read !== undefined && body.size <= this.partSize ? await verifiedBytes({ ...body, read }) : verifiedStream(body),
      // Lets lib-storage check that every part arrived (and size single puts without buffering twice).
      ContentLength: body.size,
      ContentType: body.contentType,
      ...(body.contentEncoding && { ContentEncoding: body.contentEncoding }),
      Metadata: { sha256: body.sha256 },
      ...(this.conditionalWrites && { IfNoneMatch: '*' }),
    };
    if (config.type !== 'gcs') {
      if (config.sse?.mode === 'AES256') params.ServerSideEncryption = 'AES256';
      if (config.sse?.mode === 'aws:kms') {
        params.ServerSideEncryption = 'aws:kms';
        if (config.sse.kms_key_id !== undefined) params.SSEKMSKeyId = config.sse.kms_key_id;
      }
      if (config.storage_class !== undefined) params.StorageClass = config.storage_class as PutObjectCommandInput['StorageClass'];
      if (config.object_lock !== undefined) {
        params.ObjectLockMode = config.object_lock.mode;
        params.ObjectLockRetainUntilDate = new Date(Date.now() + config.object_lock.days * DAY_MS);
        // S3 requires Content-MD5 or a checksum on writes with Object Lock parameters. lib-storage hands
        // the SDK each part as bytes, so the SDK computes SHA-256 into a header (no aws-chunked trailer).
        params.ChecksumAlgorithm = 'SHA256';
      }
    }
    const controller = new AbortController();
    const onAbort = (): void => controller.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const upload = new Upload({
        client: this.client,
        params,
        partSize: this.partSize,
        queueSize: this.queueSize,
        leavePartsOnError: false,
        abortController: controller,
      });
      const result = await upload.done();
      return { etag: result.ETag, versionId: result.VersionId };
    } finally {
      signal?.removeEventListener('abort', onAbort);
      if (params.Body instanceof Readable) params.Body.destroy();
    }
  }
}

function clientConfig(config: S3LikeConfig, options: S3DestinationOptions): S3ClientConfig {
  const endpoint = config.type === 's3' ? undefined : checkedEndpoint(config.endpoint);
  // `when_required` everywhere but where the user chose otherwise: GCS and several S3-compatible stores
  // mishandle the SDK's default flexible checksums (see docs/decisions.md).
  const checksum = config.type === 's3-compatible' && config.checksum === 'when_supported' ? 'WHEN_SUPPORTED' : 'WHEN_REQUIRED';
  const profile = config.credentials.source === 'default' ? config.credentials.profile : undefined;
  return {
    // GCS's XML API takes `auto`; S3 without a region starts at us-east-1 and follows the bucket's
    // region redirect.
    region: config.type === 'gcs' ? 'auto' : (config.region ?? 'us-east-1'),
    ...(endpoint !== undefined && { endpoint }),
    forcePathStyle: config.type === 'gcs' ? true : config.type === 's3-compatible' ? config.path_style : false,
    followRegionRedirects: config.type === 's3',
    ...(options.keys !== undefined && { credentials: { ...options.keys } }),
    ...(profile !== undefined && { profile }),
    requestChecksumCalculation: checksum,
    responseChecksumValidation: checksum,
    maxAttempts: options.maxAttempts ?? 5,
    retryMode: 'standard',
    requestHandler: { connectionTimeout: 10_000, requestTimeout: 120_000 },
  };
}

/** The endpoint URL, refused when it carries user info (a secret has no place in a URL or in state). */
function checkedEndpoint(endpoint: string): string {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new ExportDestinationError('invalid_config', 'The endpoint is not a URL: give one like https://s3.example.com:9000.');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new ExportDestinationError('invalid_config', 'The endpoint must be an http or https URL.');
  }
  if (url.username !== '' || url.password !== '') {
    throw new ExportDestinationError('invalid_config', 'The endpoint must not contain a user name or password: store keys in the keychain instead.');
  }
  return endpoint;
}

function isNotImplemented(error: unknown): boolean {
  const record = error as { name?: unknown; $metadata?: { httpStatusCode?: unknown } } | null;
  return record?.name === 'NotImplemented' || record?.$metadata?.httpStatusCode === 501;
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw new ExportDestinationError('cancelled', 'The operation was cancelled.');
}
