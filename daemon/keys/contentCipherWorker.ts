// The body of the encryption worker thread (daemon/keys/contentEncryptor.ts): the same encryptField, on
// another core. Built to dist/cli-chunks/contentCipherWorker-<hash>.mjs (scripts/build.mjs).
import { parentPort } from 'node:worker_threads';
import { encryptField } from './contentCipher.ts';

/** One batch: the key and the fields as plaintext, AAD, plaintext, AAD, … */
export interface EncryptRequest {
  id: number;
  key: Uint8Array;
  fields: string[];
}

/** The sealed fields in request order, or `sealed: null` when the batch could not be encrypted here. */
export interface EncryptReply {
  id: number;
  sealed: string[] | null;
}

parentPort?.on('message', (request: EncryptRequest) => {
  let sealed: string[] | null;
  try {
    // A structured clone of a Buffer arrives as a Uint8Array; the view shares its memory, no copy.
    const key = Buffer.from(request.key.buffer, request.key.byteOffset, request.key.byteLength);
    sealed = [];
    for (let i = 0; i + 1 < request.fields.length; i += 2) sealed.push(encryptField(key, request.fields[i] as string, request.fields[i + 1] as string));
  } catch {
    // The caller encrypts the batch itself and reports what fails there.
    sealed = null;
  }
  const reply: EncryptReply = { id: request.id, sealed };
  parentPort?.postMessage(reply);
});
