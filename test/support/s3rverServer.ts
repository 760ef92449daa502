// A real S3 API for tests: s3rver on 127.0.0.1 (see ../shared/recipes/test-servers.md), in a child process
// (s3rverMain.mjs) so that it can have OpenSSL's legacy provider, which its listing tokens need.
// It does not check signatures: any secret passes, only an unknown access key id gets 403
// InvalidAccessKeyId. It ignores If-None-Match on writes and has no IAM (see faultProxy.ts for denials).

import { S3Client } from '@aws-sdk/client-s3';
import { readFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { filesUnder } from './filesUnder.ts';
import { tempDir } from './tempDir.ts';
import { listeningPort } from './listeningPort.ts';

/** The only credentials s3rver knows. */
export const S3RVER_KEYS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

const OBJECT_SUFFIX = '._S3rver_object';

export interface S3rverServer {
  /** `http://127.0.0.1:PORT` (path-style, region us-east-1). */
  endpoint: string;
  port: number;
  /** A client with the recipe's settings (WHEN_REQUIRED checksums); destroyed with the server. */
  client: S3Client;
  /** Creates a bucket. */
  createBucket(name: string): Promise<void>;
  /** Every object of a bucket as stored on s3rver's disk, by key: what a reader would get, byte for byte. */
  storedObjects(bucket: string): Promise<Map<string, Buffer>>;
  /** Stops the server and removes its files. */
  dispose(): Promise<void>;
}

/** Starts s3rver on a free port with the given buckets. */
export async function startS3rver(options: { buckets?: readonly string[] } = {}): Promise<S3rverServer> {
  const dir = await tempDir('s3rver');
  const main = fileURLToPath(new URL('s3rverMain.mjs', import.meta.url));
  const child = spawn(process.execPath, ['--openssl-legacy-provider', main, dir.path, ...(options.buckets ?? [])], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const port = await listeningPort(child, /listening (\d+)/, 's3rver');
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { ...S3RVER_KEYS },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  let disposed = false;
  return {
    endpoint,
    port,
    client,
    async createBucket(name) {
      const { CreateBucketCommand } = await import('@aws-sdk/client-s3');
      await client.send(new CreateBucketCommand({ Bucket: name }));
    },
    async storedObjects(bucket) {
      const root = join(dir.path, bucket);
      const objects = new Map<string, Buffer>();
      for (const path of await filesUnder(root)) {
        if (!path.endsWith(OBJECT_SUFFIX)) continue;
        const key = relative(root, path).slice(0, -OBJECT_SUFFIX.length).split(sep).join('/');
        objects.set(key, await readFile(path));
      }
      return new Map([...objects].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    },
    async dispose() {
      if (disposed) return;
      disposed = true;
      client.destroy();
      if (child.exitCode === null && child.signalCode === null) {
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        await exited;
      }
      await dir.dispose();
    },
  };
}

