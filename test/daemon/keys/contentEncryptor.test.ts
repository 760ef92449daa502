import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { decryptField } from '../../../daemon/keys/contentCipher.ts';
import { ContentEncryptor, MIN_FIELDS_FOR_WORKER } from '../../../daemon/keys/contentEncryptor.ts';

/** `count` fields as plaintext, AAD, plaintext, AAD, … with distinct texts (some non-ASCII, one empty). */
function fields(count: number, run = 'e'): string[] {
  const out: string[] = [];
  for (let i = 0; i < count; i++) out.push(i === 0 ? '' : `prompt ${i} ünïcödé 🔐 ${'x'.repeat(i)}`, `${run}-${i}:${i % 2 === 0 ? 'input' : 'output'}`);
  return out;
}

test('a batch sealed on the worker: every field decrypts with its own AAD and no other, and no IV repeats', async () => {
  const logged: string[] = [];
  const encryptor = new ContentEncryptor((line) => logged.push(line));
  try {
    const key = randomBytes(32);
    const ivs = new Set<string>();
    // Two halves larger than the worker's IV pool (341), so the pool is refilled in between.
    for (const run of ['a', 'b']) {
      const input = fields(800, run);
      const offloaded = encryptor.sealFirstHalf(key, input);
      assert.equal(offloaded?.count, 400);
      const sealed = await offloaded?.sealed;
      assert.ok(sealed !== null && sealed !== undefined, 'the worker sealed the batch');
      assert.equal(sealed.length, 400);
      for (let i = 0; i < sealed.length; i++) {
        const field = sealed[i] as string;
        ivs.add(field.split('.')[1] ?? '');
        assert.equal(decryptField(key, field, input[2 * i + 1] as string), input[2 * i]);
        // Bound to its slot: another entry's or slot's AAD does not decrypt it.
        assert.throws(() => decryptField(key, field, input[2 * ((i + 1) % 400) + 1] as string), { code: 'decrypt_failed' });
      }
    }
    assert.equal(ivs.size, 800);
    assert.deepEqual(logged, []);
  } finally {
    await encryptor.dispose();
  }
});

test('a field sealed on the worker fails to decrypt after any one character is changed', async () => {
  const encryptor = new ContentEncryptor(() => undefined);
  try {
    const key = randomBytes(32);
    const input = fields(MIN_FIELDS_FOR_WORKER);
    const sealed = await encryptor.sealFirstHalf(key, input)?.sealed;
    assert.ok(sealed !== null && sealed !== undefined);
    const field = sealed[5] as string;
    const aad = input[11] as string;
    for (let at = 3; at < field.length; at++) {
      if (field[at] === '.') continue;
      const edited = field.slice(0, at) + (field[at] === 'A' ? 'B' : 'A') + field.slice(at + 1);
      assert.throws(() => decryptField(key, edited, aad), { code: 'decrypt_failed' }, `edit at ${at}`);
    }
    assert.throws(() => decryptField(randomBytes(32), field, aad), { code: 'decrypt_failed' });
  } finally {
    await encryptor.dispose();
  }
});

test('a small batch stays on the calling thread: no promise, the caller encrypts; a large one sends its first half', async () => {
  const encryptor = new ContentEncryptor(() => undefined);
  try {
    assert.equal(encryptor.sealFirstHalf(randomBytes(32), fields(MIN_FIELDS_FOR_WORKER - 1)), null);
    assert.equal(encryptor.sealFirstHalf(randomBytes(32), []), null);
    // The minimum counts the whole batch; the worker gets half of it, rounded up.
    for (const [total, half] of [[MIN_FIELDS_FOR_WORKER, MIN_FIELDS_FOR_WORKER / 2], [MIN_FIELDS_FOR_WORKER + 1, MIN_FIELDS_FOR_WORKER / 2 + 1]] as const) {
      const offloaded = encryptor.sealFirstHalf(randomBytes(32), fields(total));
      assert.equal(offloaded?.count, half);
      assert.equal((await offloaded?.sealed)?.length, half);
    }
  } finally {
    await encryptor.dispose();
  }
});

test('a batch still waiting when the worker stops resolves to null (the caller encrypts), and so do later ones', async () => {
  const encryptor = new ContentEncryptor(() => undefined);
  const key = randomBytes(32);
  const waiting = encryptor.sealFirstHalf(key, fields(MIN_FIELDS_FOR_WORKER));
  assert.ok(waiting !== null);
  await encryptor.dispose();
  assert.equal(await waiting.sealed, null);
  assert.equal(encryptor.sealFirstHalf(key, fields(MIN_FIELDS_FOR_WORKER)), null);
});

test('an idle worker is stopped, and the next large batch starts a new one without counting the stop as a failure', async () => {
  const logged: string[] = [];
  const encryptor = new ContentEncryptor((line) => logged.push(line), MIN_FIELDS_FOR_WORKER, 20);
  try {
    const key = randomBytes(32);
    assert.ok(((await encryptor.sealFirstHalf(key, fields(MIN_FIELDS_FOR_WORKER))?.sealed) ?? null) !== null);
    assert.equal(encryptor.running, true);
    while (encryptor.running) await new Promise((resolve) => setTimeout(resolve, 10));
    // Give the stopped worker's exit event its turn before the next batch.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const input = fields(MIN_FIELDS_FOR_WORKER, 'again');
    const sealed = await encryptor.sealFirstHalf(key, input)?.sealed;
    assert.ok(sealed !== null && sealed !== undefined, 'a new worker sealed the batch');
    assert.equal(decryptField(key, sealed[3] as string, input[7] as string), input[6]);
    assert.deepEqual(logged, []);
  } finally {
    await encryptor.dispose();
  }
});

test('only the key\'s own 32 bytes reach the worker, not the shared pool a keychain key is read into', async () => {
  // As keychainKeyStore reads its keys: small Buffers from base64 text share Node's 8 KB pool, so the HMAC
  // key read just before the encryption key lies in the same memory.
  const hmac = Buffer.from(randomBytes(32).toString('base64'), 'base64');
  const key = Buffer.from(randomBytes(32).toString('base64'), 'base64');
  assert.ok(key.buffer.byteLength > 32 && key.buffer === hmac.buffer, 'the keys share a pool (else this test shows nothing)');
  const posted: unknown[] = [];
  const postMessage = Worker.prototype.postMessage;
  // Observed, not replaced: the real worker still gets every message.
  Worker.prototype.postMessage = function (this: Worker, value: unknown, transfer?: Parameters<Worker['postMessage']>[1]) {
    // What the worker receives: a structured clone, taken before the transfer detaches the original.
    posted.push(structuredClone(value));
    return postMessage.call(this, value, transfer);
  };
  const encryptor = new ContentEncryptor(() => undefined);
  try {
    const input = fields(MIN_FIELDS_FOR_WORKER);
    const sealed = await encryptor.sealFirstHalf(key, input)?.sealed;
    assert.ok(sealed !== null && sealed !== undefined);
    assert.equal(decryptField(key, sealed[1] as string, input[3] as string), input[2]);
  } finally {
    Worker.prototype.postMessage = postMessage;
    await encryptor.dispose();
  }
  const request = posted.find((m): m is { key: Uint8Array } => typeof m === 'object' && m !== null && 'key' in m);
  assert.ok(request !== undefined);
  assert.equal(request.key.byteLength, 32);
  assert.ok(!Buffer.from(request.key.buffer).includes(hmac), 'the HMAC key beside it in the pool is not sent');
  assert.equal(request.key.buffer.byteLength, 32);
  assert.ok(key.equals(Buffer.from(request.key)));
});
