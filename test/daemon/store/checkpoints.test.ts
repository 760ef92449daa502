import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkCheckpointChain, checkpointLink, signCheckpoint, type Checkpoint, type CheckpointFile } from '../../../daemon/store/checkpoints.ts';
import { testKeys } from '../../support/testKeys.ts';

const keys = testKeys();

function chain(count: number): Checkpoint[] {
  const records: Checkpoint[] = [];
  for (let n = 1; n <= count; n++) {
    const body = { type: 'checkpoint' as const, seq: n * 10, hash: 'a'.repeat(64), ts: '2026-11-20T10:00:00.000Z', key_id: keys.signing.id, n, prev: checkpointLink(records.at(-1) ?? null) };
    records.push(signCheckpoint(body, keys.signing.privateKey));
  }
  return records;
}
const file = (checkpoints: Checkpoint[]): CheckpointFile => ({ checkpoints, malformed: [] });
const badSig = (c: Checkpoint): Checkpoint => ({ ...c, sig: Buffer.alloc(64, 1).toString('base64') });

test("at start ('unlinked') only signatures no later record links to are checked; every link still is", () => {
  const records = chain(5);
  assert.equal(checkCheckpointChain(file(records), keys.signingPublicKeys, { signatures: 'unlinked' }), null);

  // An older record's signature replaced: its bytes changed, so the next record's signed link no longer matches.
  const replaced = records.map((c, i) => (i === 1 ? badSig(c) : c));
  assert.match(checkCheckpointChain(file(replaced), keys.signingPublicKeys, { signatures: 'unlinked' })?.reason ?? '', /does not follow record 2/);
  assert.match(checkCheckpointChain(file(replaced), keys.signingPublicKeys)?.reason ?? '', /invalid signature/);

  // An older record's body edited (another hash named): the link breaks too.
  const edited = records.map((c, i) => (i === 2 ? { ...c, hash: 'b'.repeat(64) } : c));
  assert.notEqual(checkCheckpointChain(file(edited), keys.signingPublicKeys, { signatures: 'unlinked' }), null);

  // The newest record is vouched for by nothing but its own signature.
  const newest = records.map((c, i) => (i === 4 ? badSig(c) : c));
  assert.match(checkCheckpointChain(file(newest), keys.signingPublicKeys, { signatures: 'unlinked' })?.reason ?? '', /invalid signature/);

  // Records from before chaining (no `n`) are linked by nothing: their signatures are checked.
  const legacy = chain(1).map(({ n: _n, prev: _p, ...body }) => badSig(signCheckpoint(body, keys.signing.privateKey)));
  assert.match(checkCheckpointChain(file([...legacy, ...legacy]), keys.signingPublicKeys, { signatures: 'unlinked' })?.reason ?? '', /invalid signature/);
});
