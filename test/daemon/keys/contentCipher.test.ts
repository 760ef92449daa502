import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { decryptField, encryptField, hmacHex } from '../../../daemon/keys/contentCipher.ts';
import { AuditError, ErrorCodes } from '../../../daemon/protocol/errors.ts';

const FIELD = /^v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+$/;

function assertDecryptFailed(run: () => unknown): void {
  assert.throws(run, (error: unknown) => error instanceof AuditError && error.code === ErrorCodes.DecryptFailed);
}

test('hmacHex is HMAC-SHA-256 of UTF-8 in lowercase hex (RFC 4231 test case 2)', () => {
  // The RFC's key "Jefe" is shorter than ours; the function does not care about key length.
  assert.equal(
    hmacHex(Buffer.from('Jefe'), 'what do ya want for nothing?'),
    '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
  );
  const key = randomBytes(32);
  assert.equal(hmacHex(key, 'héllo ✓'), hmacHex(key, 'héllo ✓'));
  assert.notEqual(hmacHex(key, 'hello'), hmacHex(randomBytes(32), 'hello'));
});

test('encryptField round-trips text of any size, including empty and non-ASCII', () => {
  const key = randomBytes(32);
  for (const text of ['', 'a', 'prompt with ünïcödé and emoji 🔐', 'x'.repeat(100_000)]) {
    const field = encryptField(key, text, 'id:input');
    assert.match(field, FIELD);
    assert.equal(decryptField(key, field, 'id:input'), text);
  }
});

test('encryptField uses a fresh IV each time', () => {
  const key = randomBytes(32);
  const a = encryptField(key, 'same', 'aad');
  const b = encryptField(key, 'same', 'aad');
  assert.notEqual(a, b);
  assert.notEqual(a.split('.')[1], b.split('.')[1]);
});

test('encryptField never repeats an IV, across refills of its random pool', () => {
  const key = randomBytes(32);
  const ivs = new Set<string>();
  // 341 IVs per pool: this crosses several refills.
  for (let i = 0; i < 2000; i++) {
    const field = encryptField(key, `text ${i}`, `id-${i}:input`);
    ivs.add(field.split('.')[1] ?? '');
    assert.equal(decryptField(key, field, `id-${i}:input`), `text ${i}`);
  }
  assert.equal(ivs.size, 2000);
});

test('decryptField fails with decrypt_failed for a wrong key or wrong AAD', () => {
  const key = randomBytes(32);
  const field = encryptField(key, 'secret prompt', 'entry-1:input');
  assertDecryptFailed(() => decryptField(randomBytes(32), field, 'entry-1:input'));
  assertDecryptFailed(() => decryptField(key, field, 'entry-1:output'));
  assertDecryptFailed(() => decryptField(key, field, 'entry-2:input'));
});

test('decryptField fails with decrypt_failed when any character is edited', () => {
  const key = randomBytes(32);
  const field = encryptField(key, 'secret prompt', 'aad');
  for (let i = 0; i < field.length; i++) {
    const original = field[i];
    if (original === '.') continue;
    const replacement = original === 'A' ? 'B' : 'A';
    const edited = field.slice(0, i) + replacement + field.slice(i + 1);
    assertDecryptFailed(() => decryptField(key, edited, 'aad'));
  }
});

test('decryptField fails with decrypt_failed for malformed fields', () => {
  const key = randomBytes(32);
  const [, iv = '', ciphertext = '', tag = ''] = encryptField(key, 'text', 'aad').split('.');
  for (const bad of [
    '',
    'v1',
    `v2.${iv}.${ciphertext}.${tag}`,
    `v1.${iv}.${ciphertext}`,
    `v1.${iv}.${ciphertext}.${tag}.extra`,
    `v1.${iv}.${ciphertext}.${tag}=`,
    `v1.${iv}+.${ciphertext}.${tag}`,
    `v1.${iv.slice(2)}.${ciphertext}.${tag}`,
    `v1.${iv}.${ciphertext}.${tag.slice(4)}`,
    `v1..${ciphertext}.${tag}`,
  ]) {
    assertDecryptFailed(() => decryptField(key, bad, 'aad'));
  }
});

test('a key of the wrong size is a programming error, not decrypt_failed', () => {
  assert.throws(() => encryptField(randomBytes(16), 'text', 'aad'), RangeError);
  assert.throws(() => decryptField(randomBytes(16), 'v1.a.b.c', 'aad'), RangeError);
});
