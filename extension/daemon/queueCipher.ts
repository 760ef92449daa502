import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { QueueCipher } from './eventQueue.ts';

/** AES-256-GCM for queued events at rest; the key lives in VS Code's SecretStorage. */
export function createQueueCipher(key: Buffer): QueueCipher {
  if (key.length !== 32) throw new Error('the queue key must be 32 bytes');
  return {
    seal(plaintext: string): string {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64');
    },
    open(sealed: string): string {
      const data = Buffer.from(sealed, 'base64');
      const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, 12));
      decipher.setAuthTag(data.subarray(12, 28));
      return Buffer.concat([decipher.update(data.subarray(28)), decipher.final()]).toString('utf8');
    },
  };
}
