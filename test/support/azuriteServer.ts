// Azure Blob Storage for tests: Azurite (Microsoft's emulator) as a child process, in memory, on a free
// port of 127.0.0.1 (see ../shared/recipes/test-servers.md). It checks signatures: a wrong key gets 403.

import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { listeningPort } from './listeningPort.ts';

/** Azurite's well-known development account (public, documented by Microsoft). */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface AzuriteServer {
  /** The blob endpoint of the account, `http://127.0.0.1:PORT/devstoreaccount1`. */
  endpoint: string;
  account: string;
  accountKey: string;
  /** A service client with the account key; no resources of its own to close. */
  service: BlobServiceClient;
  createContainer(name: string): Promise<void>;
  /** Every blob of a container with its bytes, by name. */
  storedBlobs(container: string): Promise<Map<string, Buffer>>;
  /** Stops Azurite (its data lived in memory). */
  dispose(): Promise<void>;
}

export async function startAzurite(): Promise<AzuriteServer> {
  const main = createRequire(import.meta.url).resolve('azurite/dist/src/blob/main.js');
  const child = spawn(
    process.execPath,
    [
      main,
      '--silent',
      '--inMemoryPersistence',
      '--extentMemoryLimit',
      '256',
      '--blobHost',
      '127.0.0.1',
      '--blobPort',
      '0',
      '--skipApiVersionCheck',
      '--disableTelemetry',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const port = await listeningPort(child, /successfully listens on http:\/\/127\.0\.0\.1:(\d+)/, 'Azurite');
  const endpoint = `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`;
  const service = new BlobServiceClient(endpoint, new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY));
  let disposed = false;
  return {
    endpoint,
    account: AZURITE_ACCOUNT,
    accountKey: AZURITE_KEY,
    service,
    async createContainer(name) {
      await service.getContainerClient(name).create();
    },
    async storedBlobs(container) {
      const client = service.getContainerClient(container);
      const blobs = new Map<string, Buffer>();
      for await (const blob of client.listBlobsFlat()) {
        blobs.set(blob.name, await client.getBlobClient(blob.name).downloadToBuffer());
      }
      return blobs;
    },
    async dispose() {
      if (disposed) return;
      disposed = true;
      if (child.exitCode === null && child.signalCode === null) {
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}

