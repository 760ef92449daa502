import type { Readable } from 'node:stream';
import type { DestinationProbe } from '../protocol/destinations.ts';

/**
 * One backend of exports (S3, S3-compatible, GCS, Azure Blob, a folder): the exporter writes objects through
 * this and nothing else, the way lowdb's adapters sit behind `Low`. One file per backend in
 * `daemon/export/destinations/`. Keys are relative to the destination's prefix (the backend adds it).
 */
export interface ExportDestination {
  /** Where objects go, for people and manifests: `s3://bucket/prefix`, `azure://account/container/prefix`… Never a secret. */
  readonly location: string;

  /**
   * Writes an object that must not exist yet. Objects are never overwritten: when the key exists with the
   * same size and SHA-256 (a run resumed after a crash) this resolves with `existed: true`; when it exists
   * with other content it throws `ExportDestinationError` with code `object_exists`.
   * `body.open()` may be called again for a retry; large bodies go multipart.
   */
  putObject(key: string, body: ObjectBody, signal?: AbortSignal): Promise<PutResult>;

  /** Reads an object (for `verify-export`, `query --from`); `not_found` when absent. */
  getObject(key: string, signal?: AbortSignal): Promise<Readable>;

  /** Every object under `prefix` (relative to the destination prefix), in key order. */
  list(prefix: string, signal?: AbortSignal): AsyncIterable<ObjectInfo>;

  /** Writes a probe object, tries to read it back and delete it, and says which of those rights exist. */
  probe(signal?: AbortSignal): Promise<DestinationProbe>;

  /** Closes connections and clients. Idempotent. */
  dispose(): Promise<void>;
}

export interface ObjectBody {
  /** A fresh stream of the whole body each call. */
  open(): Readable;
  /**
   * The whole body in one buffer, where the producer can give it cheaply (a file read at once): a backend
   * sends a body that fits one request from this rather than from a stream (less CPU per object).
   */
  read?(): Promise<Buffer>;
  /** Size in bytes. */
  readonly size: number;
  /** Lowercase hex SHA-256 of the body, stored as object metadata (`sha256`) where the backend allows. */
  readonly sha256: string;
  readonly contentType: 'application/x-ndjson' | 'application/json';
  readonly contentEncoding?: 'gzip';
}

export interface PutResult {
  key: string;
  /** True when an identical object was already there (a resumed run). */
  existed: boolean;
  etag?: string;
  versionId?: string;
}

export interface ObjectInfo {
  key: string;
  size: number;
}

/** What went wrong, in terms a person can act on; `message` says what to do next and holds no secret. */
export type ExportDestinationErrorCode =
  | 'no_such_bucket'
  | 'access_denied'
  | 'bad_endpoint'
  | 'credentials_missing'
  | 'credentials_expired'
  | 'clock_skew'
  | 'object_exists'
  | 'not_found'
  | 'throttled'
  | 'network'
  | 'server_error'
  | 'cancelled'
  | 'invalid_config'
  /** Not the destination: a line of the local store is not an entry (run `ai-audit verify`); nothing of it was uploaded. */
  | 'store_damaged'
  /** Not the destination: entries of the range are missing from the local store (a seq gap, or it ends early). */
  | 'store_gap';

export class ExportDestinationError extends Error {
  readonly code: ExportDestinationErrorCode;
  /** Retrying the same call later may succeed (throttling, 5xx, network). */
  readonly retryable: boolean;

  constructor(code: ExportDestinationErrorCode, message: string, options?: { cause?: unknown; retryable?: boolean }) {
    super(message, options);
    this.name = 'ExportDestinationError';
    this.code = code;
    this.retryable = options?.retryable ?? false;
  }
}
