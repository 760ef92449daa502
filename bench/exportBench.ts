// The export figure: a one-time export through the daemon (`export.run`, what `ai-audit export` sends) to
// s3rver, against lib-storage's `Upload` sending the same bytes (the objects that export wrote, same count,
// sizes and content encoding) to the same s3rver. Rounds alternate the two, each to a fresh prefix.
import { DeleteObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { DaemonClient } from '../daemon/client/daemonClient.ts';
import type { DestinationConfig } from '../daemon/protocol/destinations.ts';
import type { ExportRun } from '../daemon/protocol/exports.ts';
import { NO_AWS_DEFAULT_CREDENTIALS } from '../test/support/noAwsDefaultCredentials.ts';
import { S3RVER_KEYS, type S3rverServer } from '../test/support/s3rverServer.ts';

export const EXPORT_BUCKET = 'bench';

/**
 * What the daemon needs to reach s3rver through the default credential chain (no keychain in the bench):
 * s3rver's fixed keys in the environment, and nothing else the chain could find.
 */
export const S3RVER_DAEMON_ENV: NodeJS.ProcessEnv = {
  ...NO_AWS_DEFAULT_CREDENTIALS,
  AWS_ACCESS_KEY_ID: S3RVER_KEYS.accessKeyId,
  AWS_SECRET_ACCESS_KEY: S3RVER_KEYS.secretAccessKey,
};

export interface ExportTiming {
  ms: number;
  /** The daemon's CPU time during the run, µs. */
  cpuUs: number;
  run: ExportRun;
}

/** One `export.run` (hive layout) of the whole store to `s3://bench/<prefix>`, timed to its answer. */
export async function timeExport(client: DaemonClient, s3: S3rverServer, prefix: string, gzip: boolean, cpuUs: () => Promise<number>): Promise<ExportTiming> {
  const destination: DestinationConfig = {
    type: 's3-compatible',
    bucket: EXPORT_BUCKET,
    prefix,
    endpoint: s3.endpoint,
    path_style: true,
    checksum: 'when_required',
    credentials: { source: 'default' },
  };
  const cpuBefore = await cpuUs();
  const started = performance.now();
  const run = await client.request('export.run', { destination, layout: 'hive', gzip });
  const ms = performance.now() - started;
  return { ms, cpuUs: (await cpuUs()) - cpuBefore, run };
}

export interface StoredObject {
  key: string;
  body: Buffer;
}

/** The data objects (not the manifests) an export wrote under `prefix`, as s3rver stored them. */
export async function exportedObjects(s3: S3rverServer, prefix: string): Promise<StoredObject[]> {
  const objects: StoredObject[] = [];
  for (const [key, body] of await s3.storedObjects(EXPORT_BUCKET)) {
    if (key.startsWith(`${prefix}/`) && /\.jsonl(\.gz)?$/.test(key)) objects.push({ key: key.slice(prefix.length + 1), body });
  }
  return objects;
}

/**
 * The comparison: each object uploaded with lib-storage's `Upload` at its defaults (5 MiB parts, 4 at
 * once), one object after another as the export does, with the same content type and encoding.
 */
export async function timeUpload(s3: S3rverServer, prefix: string, objects: readonly StoredObject[], gzip: boolean): Promise<number> {
  const started = performance.now();
  for (const object of objects) {
    await new Upload({
      client: s3.client,
      params: {
        Bucket: EXPORT_BUCKET,
        Key: `${prefix}/${object.key}`,
        Body: object.body,
        ContentType: 'application/x-ndjson',
        ...(gzip ? { ContentEncoding: 'gzip' } : {}),
      },
    }).done();
  }
  return performance.now() - started;
}

/** Deletes every object under `prefix/` (the bench writes hundreds of MB per round at 1M entries). */
export async function emptyPrefix(s3: S3rverServer, prefix: string): Promise<void> {
  for (;;) {
    const page = await s3.client.send(new ListObjectsV2Command({ Bucket: EXPORT_BUCKET, Prefix: `${prefix}/` }));
    // One by one: s3rver wants Content-MD5 on DeleteObjects, which the SDK no longer sends.
    for (const object of page.Contents ?? []) await s3.client.send(new DeleteObjectCommand({ Bucket: EXPORT_BUCKET, Key: object.Key }));
    if (page.IsTruncated !== true) return;
  }
}
