import { missingChunkError } from '../../bundledChunk.ts';
import { ExportDestinationError } from '../exportDestination.ts';
import type { ExportDestinationErrorCode } from '../exportDestination.ts';

/** What the failed call was, for the message: never a secret, never a URL with a query. */
export interface StorageCall {
  /** `write`, `read`, `list`, `delete`, `check whether an object exists`… */
  operation: string;
  /** The destination's location (`s3://bucket/prefix`, `azure://account/container/prefix`). */
  location: string;
  /** The object key, when there is one. */
  key?: string;
}

/**
 * The facts of an SDK failure that the mapping reads: its name, its service or Node error code and its
 * HTTP status. Messages of SDK errors are never read or copied: Azure's carry request URLs (with a SAS
 * token in the query), and the user's secret must not reach a log through them.
 */
interface Facts {
  name: string;
  code: string | undefined;
  status: number | undefined;
  requestId: string | undefined;
}

const CREDENTIALS_MISSING = new Set(['CredentialsProviderError', 'CredentialUnavailableError', 'AggregateAuthenticationError']);
const CREDENTIALS_EXPIRED = new Set(['ExpiredToken', 'ExpiredTokenException', 'TokenRefreshRequired', 'AuthenticationRequiredError']);
const NO_BUCKET = new Set(['NoSuchBucket', 'ContainerNotFound', 'ContainerBeingDeleted']);
const NOT_FOUND = new Set(['NoSuchKey', 'NotFound', 'BlobNotFound']);
const ACCESS_DENIED = new Set([
  'AccessDenied',
  'Forbidden',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'AllAccessDisabled',
  'AccountProblem',
  'AuthorizationFailure',
  'AuthenticationFailed',
  'AuthorizationPermissionMismatch',
  'AuthorizationSourceIPMismatch',
  'AuthorizationProtocolMismatch',
  'AuthorizationResourceTypeMismatch',
  'InsufficientAccountPermissions',
  'KeyVaultAccessTokenRejected',
]);
const EXISTS = new Set(['PreconditionFailed', 'BlobAlreadyExists', 'ConditionNotMet']);
const CLOCK_SKEW = new Set(['RequestTimeTooSkewed', 'RequestExpired']);
const THROTTLED = new Set(['SlowDown', 'Throttling', 'ThrottlingException', 'TooManyRequests', 'RequestLimitExceeded', 'ServerBusy']);
const TRANSIENT = new Set([
  'RequestTimeout',
  'InternalError',
  'ServiceUnavailable',
  'OperationTimedOut',
  'OperationAborted',
  'ConditionalRequestConflict',
  'TimeoutError',
  'RequestTimeoutException',
]);
/** Names and host lookups that will not start working by themselves: wrong host, port, scheme or certificate. */
const BAD_ENDPOINT = new Set([
  'ENOTFOUND',
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ERR_INVALID_URL',
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'EPROTO',
  'CERT_HAS_EXPIRED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'PermanentRedirect',
  'AuthorizationHeaderMalformed',
  'InvalidURI',
]);
const NETWORK = new Set([
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ECONNABORTED',
  'EAI_AGAIN',
  'ERR_STREAM_PREMATURE_CLOSE',
  'UND_ERR_SOCKET',
  'REQUEST_SEND_ERROR',
  'NetworkingError',
]);

/**
 * Turns any failure of an object-storage SDK (AWS SDK v3 for S3, S3-compatible stores and GCS; Azure
 * Storage Blob and Azure Identity) into an {@link ExportDestinationError} whose message says what to do
 * next. An `ExportDestinationError` passes through unchanged. The cause is a secret-free summary, never
 * the SDK error itself. A part of the SDK that an upgrade removed is thrown as `daemon_outdated` instead.
 */
export function storageError(error: unknown, call: StorageCall): ExportDestinationError {
  if (error instanceof ExportDestinationError) return error;
  // Not the destination's fault, and not to be retried: thrown as it is (callers throw what this returns).
  const outdated = missingChunkError(error);
  if (outdated !== null) throw outdated;
  const facts = factsOf(error);
  const [code, retryable, advice] = classify(facts);
  const target = call.key === undefined ? call.location : `${call.key} in ${call.location}`;
  const what = [facts.code ?? facts.name, facts.status === undefined ? undefined : `HTTP ${facts.status}`]
    .filter((part) => part !== undefined)
    .join(', ');
  const request = facts.requestId === undefined ? '' : ` (request id ${facts.requestId})`;
  const message = `Could not ${call.operation} ${target}: ${what}. ${advice}${request}`;
  return new ExportDestinationError(code, message, { retryable, cause: new Error(`${facts.name}: ${what}`) });
}

/** Whether an error is a 404 of a single object (as opposed to a missing bucket). */
export function isObjectNotFound(error: unknown): boolean {
  if (error instanceof ExportDestinationError) return error.code === 'not_found';
  const facts = factsOf(error);
  return NOT_FOUND.has(facts.code ?? '') || (facts.status === 404 && !NO_BUCKET.has(facts.code ?? ''));
}

/** Whether the server refused a write because the object exists (`If-None-Match: *`). */
export function isAlreadyExists(error: unknown): boolean {
  const facts = factsOf(error);
  return EXISTS.has(facts.code ?? '') || facts.status === 412;
}

/** Whether the server refused the call for lack of rights (403), as opposed to any other failure. */
export function isAccessDenied(error: unknown): boolean {
  if (error instanceof ExportDestinationError) return error.code === 'access_denied';
  return classify(factsOf(error))[0] === 'access_denied';
}

function classify(facts: Facts): [ExportDestinationErrorCode, boolean, string] {
  const { name, status } = facts;
  const code = facts.code ?? name;
  if (name === 'AbortError' || code === 'ABORT_ERR') return ['cancelled', false, 'The operation was cancelled.'];
  if (CREDENTIALS_MISSING.has(name) || CREDENTIALS_MISSING.has(code)) {
    return [
      'credentials_missing',
      false,
      'No credentials were found. Store keys for this destination in the OS keychain (`ai-audit credentials set ' +
        'REF --kind s3|azure-key|azure-sas`, values on stdin, then --credentials-ref REF), or provide them through the ' +
        "provider's default chain (environment variables, a shared profile, SSO login, workload identity).",
    ];
  }
  if (CREDENTIALS_EXPIRED.has(code) || CREDENTIALS_EXPIRED.has(name)) {
    return [
      'credentials_expired',
      false,
      'The credentials have expired. Refresh them (for example `aws sso login`, a new session token, or ' +
        '`az login`) or store new keys for this destination, then try again.',
    ];
  }
  if (CLOCK_SKEW.has(code)) {
    return [
      'clock_skew',
      false,
      "The server rejected the request's time: this machine's clock is off by minutes. Synchronise the " +
        'clock (NTP, `timedatectl set-ntp true`) and try again.',
    ];
  }
  if (NO_BUCKET.has(code)) {
    return [
      'no_such_bucket',
      false,
      'The bucket or container does not exist. Create it, or correct its name (and the region or endpoint) ' +
        'in the destination.',
    ];
  }
  if (code === 'InvalidAccessKeyId' || code === 'SignatureDoesNotMatch' || code === 'AuthenticationFailed') {
    return [
      'access_denied',
      false,
      'The server does not accept these credentials (unknown key id or wrong secret). Check the stored keys ' +
        'or the default chain, and that the endpoint belongs to the account the keys are for.',
    ];
  }
  if (ACCESS_DENIED.has(code) || status === 403 || status === 401) {
    return [
      'access_denied',
      false,
      'Access was denied. Check that these are the right credentials, and that they may write objects under ' +
        'the prefix (s3:PutObject; on Azure a SAS with create and write, or Storage Blob Data Contributor); ' +
        'reading and deleting are optional.',
    ];
  }
  if (NOT_FOUND.has(code) || status === 404) return ['not_found', false, 'The object does not exist.'];
  if (EXISTS.has(code) || status === 412) {
    return ['object_exists', false, 'An object with that name exists already; exports never overwrite objects.'];
  }
  if (THROTTLED.has(code) || status === 429) {
    return ['throttled', true, 'The service asked to slow down. The call is retried with backoff; try again later if it persists.'];
  }
  if (BAD_ENDPOINT.has(code)) {
    return [
      'bad_endpoint',
      false,
      'The storage endpoint could not be reached as configured. Check the endpoint URL (host, port, http or ' +
        'https), the region, DNS and any proxy, then try again.',
    ];
  }
  if (TRANSIENT.has(code) || (status !== undefined && status >= 500)) {
    return ['server_error', true, 'The storage service failed temporarily. The call is retried; try again later if it persists.'];
  }
  if (NETWORK.has(code)) {
    return ['network', true, 'The connection failed. The call is retried; check the network if it persists.'];
  }
  if (status === 400 && code === 'InvalidStorageClass') {
    return ['invalid_config', false, 'The storage class is not supported by this service: correct it in the destination.'];
  }
  if (status === 400 && (code === 'KMS.NotFoundException' || code === 'KMS.DisabledException')) {
    return ['invalid_config', false, 'The KMS key cannot be used: correct the key id or enable the key.'];
  }
  if (status === 400 && code === 'InvalidRequest') {
    return [
      'invalid_config',
      false,
      'The service refused an option of this destination (Object Lock needs a bucket with Object Lock ' +
        'enabled; server-side encryption and storage class must be ones it supports).',
    ];
  }
  if (status !== undefined && status >= 400) {
    return ['invalid_config', false, 'The service refused the request. Check the destination settings.'];
  }
  return ['network', true, 'An unexpected failure; the call is retried. Check the endpoint and the network if it persists.'];
}

function factsOf(error: unknown): Facts {
  if (typeof error !== 'object' || error === null) return { name: typeof error, code: undefined, status: undefined, requestId: undefined };
  const record = error as Record<string, unknown>;
  const name = typeof record.name === 'string' ? record.name : 'Error';
  // AWS SDK: the service error code is the name; Azure: RestError.code; Node: errno code.
  let code = stringField(record, 'Code') ?? stringField(record, 'code');
  const metadata = record.$metadata as Record<string, unknown> | undefined;
  const response = record.$response as Record<string, unknown> | undefined;
  let status = numberField(metadata, 'httpStatusCode') ?? numberField(record, 'statusCode') ?? numberField(response, 'statusCode');
  if (code === undefined && name !== 'Error' && name !== 'RestError' && name !== 'TypeError') code = name;
  // The SDK's network failures wrap the Node error; its code is the fact that matters.
  const cause = record.cause as Record<string, unknown> | undefined;
  if ((code === undefined || code === 'REQUEST_SEND_ERROR') && typeof cause === 'object' && cause !== null) {
    code = stringField(cause, 'code') ?? code;
  }
  // S3 answers HEAD requests without a body, so the SDK names them after the status alone.
  if (code !== undefined && /^\d{3}$/.test(code)) {
    status ??= Number(code);
    code = status === 404 ? 'NotFound' : status === 403 ? 'Forbidden' : code;
  }
  const requestId = stringField(metadata, 'requestId') ?? stringField(record, 'requestId');
  // The code, the name (the AWS SDK names its errors after the code) and the request id are the server's words:
  // one that echoes what it was sent (a session token, a SAS, an Authorization header) would put a secret into
  // the message, the run record, the log and the CLI's output. Only shapes that real codes and ids have pass.
  return {
    name: name === 'Error' || SERVER_CODE.test(name) ? name : 'Error',
    code: code === undefined || SERVER_CODE.test(code) ? code : 'an unrecognized error code',
    status,
    requestId: requestId !== undefined && REQUEST_ID.test(requestId) ? requestId : undefined,
  };
}

/** An error code as services and Node write them (`NoSuchBucket`, `KMS.NotFoundException`, `ERR_SSL_WRONG_VERSION_NUMBER`, `403`). */
const SERVER_CODE = /^[A-Za-z0-9][A-Za-z0-9_.]{0,47}$/;
/** A request id as AWS (16 hex digits), Azure (a UUID) and S3-compatible stores write them: never a token's length. */
const REQUEST_ID = /^[A-Za-z0-9-]{1,48}$/;

function stringField(record: Record<string, unknown> | undefined, field: string): string | undefined {
  const value = record?.[field];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function numberField(record: Record<string, unknown> | undefined, field: string): number | undefined {
  const value = record?.[field];
  return typeof value === 'number' ? value : undefined;
}
