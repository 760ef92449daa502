import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import type { KeyMaterial } from '../../daemon/keys/keyMaterial.ts';

/** Fresh random in-memory keys for store tests that are not about where keys come from. */
export function testKeys(generation = 1): KeyMaterial {
  const hmac = new Map<string, Buffer>();
  const enc = new Map<string, Buffer>();
  const signingPublicKeys = new Map<string, KeyObject>();
  let signing: KeyMaterial['signing'] | undefined;
  for (let g = 1; g <= generation; g++) {
    hmac.set(`t${g}`, randomBytes(32));
    enc.set(`t${g}`, randomBytes(32));
    const pair = generateKeyPairSync('ed25519');
    signingPublicKeys.set(`t${g}`, pair.publicKey);
    signing = { id: `t${g}`, privateKey: pair.privateKey, publicKey: pair.publicKey };
  }
  const id = `t${generation}`;
  return {
    source: 'master-key',
    hmac: { id, key: hmac.get(id) ?? Buffer.alloc(32) },
    encryption: { id, key: enc.get(id) ?? Buffer.alloc(32) },
    hmacKeys: hmac,
    encryptionKeys: enc,
    signing: signing as KeyMaterial['signing'],
    signingPublicKeys,
  };
}
