import assert from 'node:assert/strict';
import { readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { KeyMaterial } from '../../../daemon/keys/keyMaterial.ts';
import { AuditStore } from '../../../daemon/store/auditStore.ts';
import { verifyStore } from '../../../daemon/store/chainVerifier.ts';
import { listSegments } from '../../../daemon/store/segmentPaths.ts';
import { RepairRefused, repairStore } from '../../../daemon/store/storeRepair.ts';
import { tempDir } from '../../support/tempDir.ts';
import { testKeys } from '../../support/testKeys.ts';

describe('repairStore', () => {
  let home: { path: string; dispose(): Promise<void> };
  let keys: KeyMaterial;
  const open = () => AuditStore.open({ home: home.path, keys, contentMode: () => 'hash', log: () => undefined, segmentMaxBytes: 1024 });

  beforeEach(async () => {
    home = await tempDir('repair');
    keys = testKeys();
    const store = await open();
    for (let i = 0; i < 12; i++) await store.ingest([{ kind: 'chat.input', input: `prompt ${i}` }]);
    await store.close();
  });
  afterEach(() => home.dispose());

  test('nothing to repair on an intact store', async () => {
    const result = await repairStore(home.path, keys);
    assert.equal(result.repaired, false);
  });

  test('whole lines cut off the signed end: the chain goes on after the signed seq, and verifies', async () => {
    const segments = await listSegments(home.path);
    const newest = join(home.path, segments.at(-1)?.file ?? '');
    const lines = (await readFile(newest, 'utf8')).split('\n').filter((l) => l !== '');
    await writeFile(newest, lines.slice(0, -1).map((l) => `${l}\n`).join(''));
    const readOnly = await open();
    assert.equal(readOnly.readOnly?.code, 'unverified_chain');
    await readOnly.close();

    const result = await repairStore(home.path, keys);
    assert.equal(result.repaired, true);
    assert.equal(result.signed_seq, 12);
    assert.equal(result.kept_through_seq, 11);
    const store = await open();
    assert.equal(store.readOnly, null);
    const [ack] = await store.ingest([{ kind: 'chat.input' }]);
    assert.ok(ack !== undefined && 'seq' in ack);
    assert.equal(ack.seq, 13);
    await store.close();
    const report = await verifyStore(home.path, { publicKeys: keys.signingPublicKeys, summaryKeys: keys.hmacKeys });
    assert.equal(report.ok, true, JSON.stringify(report.problem));
  });

  test('signed entries lost, the next entry written an hour after the repair: verify passes (the repair record ends the unsigned run)', async () => {
    const segments = await listSegments(home.path);
    const newest = join(home.path, segments.at(-1)?.file ?? '');
    const lines = (await readFile(newest, 'utf8')).split('\n').filter((l) => l !== '');
    await writeFile(newest, lines.slice(0, -1).map((l) => `${l}\n`).join(''));
    assert.equal((await repairStore(home.path, keys)).kept_through_seq, 11);
    const later = Date.now() + 3_600_000;
    const store = await AuditStore.open({ home: home.path, keys, contentMode: () => 'hash', log: () => undefined, segmentMaxBytes: 1024, now: () => later });
    await store.ingest([{ kind: 'chat.input' }]);
    await store.close();
    const report = await verifyStore(home.path, { publicKeys: keys.signingPublicKeys, summaryKeys: keys.hmacKeys });
    assert.equal(report.ok, true, JSON.stringify(report.problem));
  });

  test('damage before the newest segment is refused: it needs a backup', async () => {
    const segments = await listSegments(home.path);
    assert.ok(segments.length >= 3);
    await truncate(join(home.path, segments[0]?.file ?? ''), 30);
    await assert.rejects(repairStore(home.path, keys), RepairRefused);
  });
});
