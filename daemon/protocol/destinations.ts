import { z } from 'zod';

/**
 * Export destinations as the wire and `state.json` describe them. Never a secret: credentials come from the
 * provider's default chain (environment, profiles, SSO, workload identity) or from the OS keychain under
 * `credentials_ref` (an item name the daemon and CLI resolve), never from here.
 */
const prefix = z
  .string()
  .max(512)
  .refine(
    (value) => !value.startsWith('/') && !value.includes('\\') && ![...value].some((c) => c.charCodeAt(0) < 0x20),
    'a key prefix without a leading slash, backslashes or control characters',
  );
const name = z.string().min(1).max(128).regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, dot, dash, underscore');
/** Where credentials come from: the provider's default chain, or an OS keychain item this daemon owns. */
const credentials = z.discriminatedUnion('source', [
  z.strictObject({ source: z.literal('default'), profile: z.string().max(128).optional() }),
  z.strictObject({ source: z.literal('keychain'), ref: z.string().min(1).max(128) }),
]);

/** The kinds of explicit keys the keychain holds (`credentials.set`); their fields: daemon/export/destinationSecrets.ts. */
export const DestinationSecretKind = z.enum(['s3', 'azure_key', 'azure_sas']);
export type DestinationSecretKind = z.infer<typeof DestinationSecretKind>;

const s3Options = {
  bucket: z.string().min(3).max(63),
  prefix: prefix.default(''),
  region: z.string().max(64).optional(),
  credentials,
  /** Server-side encryption: SSE-S3 (`AES256`) or SSE-KMS (`aws:kms`, optional key id). */
  sse: z
    .discriminatedUnion('mode', [
      z.strictObject({ mode: z.literal('AES256') }),
      z.strictObject({ mode: z.literal('aws:kms'), kms_key_id: z.string().max(2048).optional() }),
    ])
    .optional(),
  storage_class: z.string().max(64).optional(),
  /** S3 Object Lock retention set on every object (the bucket must have Object Lock enabled). */
  object_lock: z
    .strictObject({ mode: z.enum(['GOVERNANCE', 'COMPLIANCE']), days: z.number().int().min(1).max(36500) })
    .optional(),
};

export const DestinationConfig = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('s3'), ...s3Options }),
  z.strictObject({
    type: z.literal('s3-compatible'),
    ...s3Options,
    endpoint: z.url(),
    path_style: z.boolean().default(true),
    /**
     * Request checksums: `when_required` (default) sends none unless the operation needs one; several
     * S3-compatible stores store the aws-chunked framing inside the object under `when_supported`.
     */
    checksum: z.enum(['when_required', 'when_supported']).default('when_required'),
  }),
  z.strictObject({
    type: z.literal('gcs'),
    bucket: z.string().min(3).max(222),
    prefix: prefix.default(''),
    /** GCS interoperability (S3 XML API) with HMAC keys kept in the keychain. */
    credentials,
    endpoint: z.url().default('https://storage.googleapis.com'),
  }),
  z.strictObject({
    type: z.literal('azure'),
    account: z.string().min(3).max(24),
    container: z.string().min(3).max(63),
    prefix: prefix.default(''),
    /** Blob endpoint; default `https://ACCOUNT.blob.core.windows.net` (Azurite and sovereign clouds differ). */
    endpoint: z.url().optional(),
    credentials,
  }),
  z.strictObject({ type: z.literal('dir'), path: z.string().min(1).max(4096), prefix: prefix.default('') }),
]);
export type DestinationConfig = z.infer<typeof DestinationConfig>;
export type DestinationType = DestinationConfig['type'];

/** A named destination as stored in state and listed to clients. */
export const NamedDestination = z.strictObject({ name, config: DestinationConfig });
export type NamedDestination = z.infer<typeof NamedDestination>;

/** What `destinations.test` found out by writing, reading back and deleting a probe object. */
export interface DestinationProbe {
  /** The probe object could be written. False: the destination is unusable. */
  write: boolean;
  /** It could be read back; `null` when not tried (the write failed). Write-only is a valid setup. */
  read: boolean | null;
  /** It could be deleted; `null` when not tried. Denied delete is recommended (with Object Lock). */
  delete: boolean | null;
  /** The probe object's key, and one line per step for a person to read. */
  key: string;
  detail: string[];
}
