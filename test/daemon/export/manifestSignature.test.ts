import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, test } from 'node:test';
import { manifestSignatureValid, signManifest } from '../../../daemon/export/manifestSignature.ts';
import type { ExportManifest } from '../../../daemon/protocol/exports.ts';

const manifest: ExportManifest = {
  format: 'ai-audit-export-manifest/1',
  chain: 'nightly',
  run_id: 'r1',
  name: 'nightly',
  created_at: '2026-12-01T02:00:00.000Z',
  destination: { type: 'dir', location: '/srv/audit' },
  layout: 'hive',
  gzip: false,
  prefix: '',
  filter: {},
  complete: true,
  seq_from: 1,
  seq_to: 2,
  time_range: { min_ts: '2026-11-30T08:00:00.000Z', max_ts: '2026-11-30T09:00:00.000Z' },
  prev_hash: 'a'.repeat(64),
  last_hash: 'b'.repeat(64),
  rows: 2,
  objects: [{ key: 'year=2026/month=11/day=30/000000000001-000000000002.jsonl', rows: 2, bytes: 10, sha256: 'c'.repeat(64), first_seq: 1, last_seq: 2 }],
  checkpoints: [],
  public_keys: {},
  prev_manifest_sha256: null,
};

describe('manifestSignature', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');

  test('verifies after a JSON round trip in any member order, not after an edit', () => {
    const signed = signManifest(manifest, 'k1', privateKey);
    assert.equal(signed.signature?.key_id, 'k1');
    const reordered = Object.fromEntries(Object.entries(JSON.parse(JSON.stringify(signed, null, 2)) as object).reverse()) as ExportManifest;
    assert.equal(manifestSignatureValid(reordered, publicKey), true);
    assert.equal(manifestSignatureValid({ ...signed, complete: false }, publicKey), false);
    const object = signed.objects[0];
    assert.ok(object !== undefined);
    assert.equal(manifestSignatureValid({ ...signed, objects: [{ ...object, rows: 1 }] }, publicKey), false);
  });

  test('no signature, a malformed one or another key does not verify', () => {
    assert.equal(manifestSignatureValid(manifest, publicKey), false);
    const signed = signManifest(manifest, 'k1', privateKey);
    assert.equal(manifestSignatureValid({ ...signed, signature: { key_id: 'k1', sig: 'not base64!' } }, publicKey), false);
    assert.equal(manifestSignatureValid(signed, generateKeyPairSync('ed25519').publicKey), false);
  });
});
