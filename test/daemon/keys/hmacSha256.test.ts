import assert from 'node:assert/strict';
import { createHmac, randomBytes, randomInt } from 'node:crypto';
import { test } from 'node:test';
import { HmacSha256 } from '../../../daemon/keys/hmacSha256.ts';

function reference(key: Buffer, text: string): string {
  return createHmac('sha256', key).update(text, 'utf8').digest('hex');
}

/** Random text from ASCII, Latin-1, BMP and astral code points, lone surrogates included. */
function randomText(length: number): string {
  let text = '';
  while (text.length < length) {
    switch (randomInt(5)) {
      case 0:
        text += String.fromCharCode(32 + randomInt(95));
        break;
      case 1:
        text += String.fromCharCode(0x80 + randomInt(0x780));
        break;
      case 2:
        text += String.fromCharCode(0x800 + randomInt(0xd000));
        break;
      case 3:
        text += String.fromCodePoint(0x10000 + randomInt(0xfffff));
        break;
      default:
        text += String.fromCharCode(0xd800 + randomInt(0x800));
    }
  }
  return text;
}

test('HmacSha256 equals createHmac on RFC 4231 test cases 1, 2 and 6 (a key longer than the block)', () => {
  assert.equal(new HmacSha256(Buffer.from('Jefe')).hex('what do ya want for nothing?'), '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
  assert.equal(new HmacSha256(Buffer.alloc(20, 0x0b)).hex('Hi There'), 'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7');
  assert.equal(
    new HmacSha256(Buffer.alloc(131, 0xaa)).hex('Test Using Larger Than Block-Size Key - Hash Key First'),
    '60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54',
  );
});

test('HmacSha256 equals createHmac on random keys (0 to 100 bytes) and random non-ASCII text', () => {
  for (let round = 0; round < 300; round++) {
    const key = randomBytes(randomInt(101));
    const hmac = new HmacSha256(key);
    // Several messages per key, so that a reused buffer holding a longer earlier message is exercised.
    for (const length of [randomInt(200), 0, randomInt(5000), 1]) {
      const text = randomText(length);
      assert.equal(hmac.hex(text), reference(key, text), `key of ${key.length} bytes, text of ${text.length} units`);
    }
  }
});

test('HmacSha256 handles messages past its reused buffer, and keeps its own copy of the key', () => {
  const key = randomBytes(32);
  const hmac = new HmacSha256(key);
  const original = Buffer.from(key);
  for (const text of ['x'.repeat(70_000), 'é'.repeat(30_000), '🔐'.repeat(50_000), 'short']) assert.equal(hmac.hex(text), reference(original, text));
  key.fill(0);
  assert.equal(hmac.hex('after'), reference(original, 'after'));
});

test('HmacSha256 does not keep the message in its reused buffer after the call', () => {
  const hmac = new HmacSha256(randomBytes(32));
  const secret = 'a prompt with a secret: sk-test-0123456789';
  hmac.hex(secret);
  const inner = (hmac as unknown as { inner: Buffer }).inner;
  assert.equal(inner.includes(Buffer.from(secret)), false);
  assert.equal(inner.includes(Buffer.from('sk-test')), false);
});
