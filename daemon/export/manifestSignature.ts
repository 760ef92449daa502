import { sign, verify, type KeyObject } from 'node:crypto';
import type { ExportManifest } from '../protocol/exports.ts';
import { canonicalJson } from '../store/canonicalJson.ts';

/**
 * The signature of an export manifest: Ed25519 with the store's checkpoint signing key over the canonical
 * JSON (docs/entry.md) of the manifest without its `signature` member. The canonical form is taken of the
 * manifest as it reads back from JSON (members whose value is undefined are gone), so a verifier that only
 * has the stored bytes computes the same message.
 */
function signedBytes(manifest: ExportManifest): Buffer {
  const { signature: _signature, ...body } = manifest;
  return Buffer.from(canonicalJson(JSON.parse(JSON.stringify(body)) as unknown));
}

export function signManifest(manifest: ExportManifest, keyId: string, privateKey: KeyObject): ExportManifest {
  const sig = sign(null, signedBytes(manifest), privateKey).toString('base64');
  return { ...manifest, signature: { key_id: keyId, sig } };
}

/** Whether the manifest carries a signature that verifies under `publicKey` (false when it has none). */
export function manifestSignatureValid(manifest: ExportManifest, publicKey: KeyObject): boolean {
  const signature = manifest.signature;
  if (typeof signature !== 'object' || signature === null || typeof signature.sig !== 'string') return false;
  try {
    return verify(null, signedBytes(manifest), publicKey, Buffer.from(signature.sig, 'base64'));
  } catch {
    return false;
  }
}
