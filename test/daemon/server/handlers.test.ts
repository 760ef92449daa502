import { ExportService } from '../../../daemon/export/exportService.ts';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { KeyMaterial } from '../../../daemon/keys/keyMaterial.ts';
import { MasterKeyStore } from '../../../daemon/keys/masterKeyStore.ts';
import type { IngestAck } from '../../../daemon/protocol/messages.ts';
import { createHandlers, type HandlerContext, type HandlerTable } from '../../../daemon/server/handlers.ts';
import { DaemonState } from '../../../daemon/state/daemonState.ts';
import { AuditStore } from '../../../daemon/store/auditStore.ts';
import { listSegments } from '../../../daemon/store/segmentPaths.ts';
import { tempDir } from '../../support/tempDir.ts';

const context: HandlerContext = { connection: { id: 1, client: null, notify: () => undefined, onClose: () => undefined }, requestId: 1, actor: undefined, flow: () => ({ connections: 1, reading_paused: 0, requests_running: 1, queued_chars: 0, held_chars: 0 }) };

describe('handlers (real store, state and master-key store in a temp dir)', () => {
  let home: { path: string; dispose(): Promise<void> };
  let store: AuditStore;
  let handlers: HandlerTable;

  beforeEach(async () => {
    home = await tempDir('handlers');
    const state = await DaemonState.open(home.path);
    const keyStore = new MasterKeyStore({ masterKey: randomBytes(32).toString('base64'), generation: state.keyGeneration });
    let keys: KeyMaterial = await keyStore.load();
    store = await AuditStore.open({ home: home.path, keys, contentMode: () => state.settings.content_mode, log: () => undefined });
    handlers = createHandlers({
      store,
      state,
      keyStore,
      keys: () => keys,
      setKeys: (next) => {
        keys = next;
        store.setKeys(next);
      },
      version: 'test',
      startedAt: Date.now(),
      exports: new ExportService({ store, state, home: home.path, keys: () => keys, log: () => undefined }),
    });
  });
  afterEach(async () => {
    await store.close();
    await home.dispose();
  });

  const storeEncrypted = async (input: string): Promise<IngestAck> => {
    const [ack] = await store.ingest([{ kind: 'chat.input', input, content_mode: 'encrypted' }]);
    assert.ok(ack !== undefined && !('error' in ack));
    return ack;
  };
  const auditEntries = async (kind: 'audit.decrypt' | 'audit.settings') => (await store.query({ kind }, 100)).entries;

  test('decrypt shows no plaintext unless its record was written (a store refusing writes)', async () => {
    const ack = await storeEncrypted('top secret');
    // A closed store refuses every write; reads of committed entries still work.
    await store.close();
    await assert.rejects(handlers.decrypt({ seq: ack.seq, reason: 'curious' }, context), { code: 'shutting_down' });
  });

  test('decrypt records the attempt, with its reason, and returns the audit seq', async () => {
    const ack = await storeEncrypted('top secret');
    const result = await handlers.decrypt({ seq: ack.seq, reason: 'incident 9' }, context);
    assert.equal(result.input, 'top secret');
    const [audit] = await auditEntries('audit.decrypt');
    assert.equal(audit?.seq, result.audit_seq);
    assert.ok(result.audit_seq > ack.seq);
    assert.deepEqual(audit?.audit, { target_seq: ack.seq, target_id: ack.id, reason: 'incident 9' });
  });

  test('a decryption that fails is recorded too', async () => {
    const ack = await storeEncrypted('top secret');
    // Damage the ciphertext in place (same length): AES-GCM no longer authenticates it.
    const [segment] = await listSegments(home.path);
    const path = join(home.path, segment?.file ?? '');
    const text = await readFile(path, 'utf8');
    const enc = /"input_enc":"([^"]+)"/.exec(text)?.[1] ?? '';
    const middle = Math.floor(enc.length / 2);
    const damaged = enc.slice(0, middle) + (enc[middle] === 'A' ? 'B' : 'A') + enc.slice(middle + 1);
    await writeFile(path, text.replace(enc, damaged));
    await assert.rejects(handlers.decrypt({ seq: ack.seq }, context), { code: 'decrypt_failed' });
    const recorded = await auditEntries('audit.decrypt');
    assert.equal(recorded.length, 1);
    assert.deepEqual(recorded[0]?.audit, { target_seq: ack.seq, target_id: ack.id, reason: null });
  });

  test('settings.set records each real change once, and a no-op change not at all', async () => {
    const before = store.lastSeq;
    const same = await handlers['settings.set']({ content_mode: 'hash', retention_days: 90 }, context);
    assert.deepEqual(same, { content_mode: 'hash', retention_days: 90 });
    assert.equal(store.lastSeq, before, 'nothing changed, nothing recorded');
    await handlers['settings.set']({ content_mode: 'none', retention_days: 90 }, context);
    assert.equal(store.lastSeq, before + 1);
    const [entry] = await auditEntries('audit.settings');
    assert.deepEqual(entry?.audit, { changed: { content_mode: { from: 'hash', to: 'none' } } });
    await handlers['settings.set']({ content_mode: 'none' }, context);
    assert.equal(store.lastSeq, before + 1, 'setting the current value again is a no-op');
  });

  test('keys.rotate writes an audit.keys.rotate entry naming the ids before and after', async () => {
    const status = await handlers['keys.rotate']({}, context);
    assert.equal(status.hmac_key_id, 'm2');
    const { entries } = await store.query({ kind: 'audit.keys.rotate' }, 10);
    assert.equal(entries.length, 1);
    assert.deepEqual(entries[0]?.audit, {
      hmac_key_id: { from: 'm1', to: 'm2' },
      encryption_key_id: { from: 'm1', to: 'm2' },
      signing_key_id: { from: 'm1', to: 'm2' },
    });
  });
});
