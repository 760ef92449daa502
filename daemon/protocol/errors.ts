/**
 * Error codes that cross the wire. Only `{ code, message, data? }` is ever sent: never a stack, a path
 * outside the data dir, or a secret. Clients branch on `code`, never on `message`.
 */
export const ErrorCodes = {
  /** The frame is not valid JSON. */
  BadJson: 'bad_json',
  /** The frame is JSON but not a request object (`{ id, method, params }`). */
  BadRequest: 'bad_request',
  /** `method` names no known message type. */
  UnknownMethod: 'unknown_method',
  /** `params` (or one event of a batch) failed validation; `data.issues` lists the paths. */
  InvalidParams: 'invalid_params',
  /** An event's `ts` lies further in the future than the daemon accepts. */
  FutureTimestamp: 'future_timestamp',
  /** The frame is larger than `maxPayload`; the connection is closed with 1009. */
  PayloadTooLarge: 'payload_too_large',
  /** The ingest queue is full: retry after `data.retry_after_ms`. Nothing of the request was stored. */
  Busy: 'busy',
  /** The disk is full: ingest is refused (nothing of the request was stored), reads keep working. */
  DiskFull: 'disk_full',
  /** A write or fsync failed for another reason; nothing of the request was acknowledged. */
  StorageError: 'storage_error',
  /**
   * The daemon is read-only: at start it found the signed part of the chain damaged or could not verify the
   * chain up to its newest signature (`data.reason`). Reads and verify work; see `ai-audit repair`.
   */
  ReadOnly: 'read_only',
  /** No OS keychain and no `AI_AUDIT_MASTER_KEY`. */
  KeychainUnavailable: 'keychain_unavailable',
  /** The entry names a key id that no longer exists, or the ciphertext does not authenticate. */
  DecryptFailed: 'decrypt_failed',
  /** The entry's content was not stored encrypted (hash or none mode): there is nothing to decrypt. */
  NotEncrypted: 'not_encrypted',
  /** No entry with that seq or id. */
  NotFound: 'not_found',
  /** The cursor is malformed or points to entries that retention has removed. */
  BadCursor: 'bad_cursor',
  /** A subscription id that this connection does not hold. */
  UnknownSubscription: 'unknown_subscription',
  /** The daemon is shutting down; retry against the next instance. */
  ShuttingDown: 'shutting_down',
  /** A destination, schedule or run name that is already taken (`destinations.add`, `schedules.add`). */
  Conflict: 'conflict',
  /** The export destination failed; `data.reason` is its code (access_denied, no_such_bucket, …), `data.retryable`. */
  DestinationError: 'destination_error',
  /** The export was cancelled (`export.cancel`, or the daemon stopped); committed chunks stay committed. */
  Cancelled: 'cancelled',
  /** The schedule is running already; wait for its run (see `export.runs`). */
  ExportRunning: 'export_running',
  /**
   * A part of the daemon loaded on demand (the export SDKs) is gone from where the daemon was started: an
   * upgrade replaced its files. Restart the daemon (the extension does so itself for an older daemon).
   */
  DaemonOutdated: 'daemon_outdated',
  /** A bug. The daemon logs the details locally and stays up. */
  Internal: 'internal',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** The error object of a response frame. */
export interface WireError {
  code: ErrorCode;
  message: string;
  data?: Record<string, unknown>;
}

/**
 * An error that carries a wire code. Thrown inside the daemon, turned into a {@link WireError} by the
 * dispatcher; thrown again on the client side by the client so that callers can branch on `code`.
 */
export class AuditError extends Error {
  readonly code: ErrorCode;
  readonly data: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, data?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AuditError';
    this.code = code;
    this.data = data;
  }

  toWire(): WireError {
    return this.data === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, data: this.data };
  }

  static fromWire(error: WireError): AuditError {
    return new AuditError(error.code, error.message, error.data);
  }
}
