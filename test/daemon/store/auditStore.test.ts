import assert from 'node:assert/strict';
import fs from 'node:fs';
import { open as fsOpen, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { decryptField } from '../../../daemon/keys/contentCipher.ts';
import type { KeyMaterial } from '../../../daemon/keys/keyMaterial.ts';
import type { ContentMode, Entry } from '../../../daemon/protocol/entry.ts';
import { ErrorCodes, type AuditError } from '../../../daemon/protocol/errors.ts';
import type { EntryFilter, IngestAck, IngestRejected } from '../../../daemon/protocol/messages.ts';
import { AuditStore } from '../../../daemon/store/auditStore.ts';
import { compileFilter } from '../../../daemon/store/entryFilter.ts';
import { sealSummary, type SealedSummary } from '../../../daemon/store/summarySeal.ts';
import { tempDir } from '../../support/tempDir.ts';
import { testKeys } from '../../support/testKeys.ts';
import { filesUnder } from '../../support/filesUnder.ts';

const DAY = 86_400_000;

function acked(result: IngestAck | IngestRejected): IngestAck {
  assert.ok(!('error' in result), `expected an ack, got ${JSON.stringify(result)}`);
  return result;
}

describe('AuditStore', () => {
  let home: { path: string; dispose(): Promise<void> };
  let keys: KeyMaterial;
  let mode: ContentMode;
  let clock: number;
  const stores: AuditStore[] = [];
  const open = async (extra: Partial<Parameters<typeof AuditStore.open>[0]> = {}): Promise<AuditStore> => {
    const store = await AuditStore.open({ home: home.path, keys, contentMode: () => mode, log: () => undefined, now: () => clock, ...extra });
    stores.push(store);
    return store;
  };

  beforeEach(async () => {
    home = await tempDir('store');
    keys = testKeys();
    mode = 'hash';
    clock = Date.parse('2026-11-20T10:00:00Z');
  });
  afterEach(async () => {
    for (const store of stores.splice(0)) await store.close();
    await home.dispose();
  });

  test('acknowledges each event with a seq and a UUIDv7 id, and chains them', async () => {
    const store = await open();
    const acks = await store.ingest([{ kind: 'chat.input', input: 'hello' }, { kind: 'chat.output', output: 'world' }]);
    const [a, b] = acks.map(acked);
    assert.equal(a?.seq, 1);
    assert.equal(b?.seq, 2);
    assert.match(a?.id ?? '', /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const first = await store.get({ seq: 1 });
    const second = await store.get({ seq: 2 });
    assert.equal(first.prev, '0'.repeat(64));
    assert.equal(second.prev, first.hash);
    assert.equal((await store.verify({})).ok, true);
  });

  test('hash mode keeps an HMAC and the length, never the text, anywhere in the data dir', async () => {
    const store = await open();
    const secret = 'my password is hunter2-unique-marker';
    acked((await store.ingest([{ kind: 'chat.input', input: secret, output: `${secret} echoed` }]))[0] as IngestAck);
    const entry = await store.get({ seq: 1 });
    assert.equal(entry.content.mode, 'hash');
    assert.match(entry.content.input_hmac ?? '', /^[0-9a-f]{64}$/);
    assert.equal(entry.content.input_length, secret.length);
    await store.close();
    for (const file of await filesUnder(home.path)) {
      const text = await readFile(file, 'utf8');
      assert.ok(!text.includes('hunter2'), `${file} holds the raw text`);
    }
  });

  test('encrypted mode stores AES-GCM fields bound to the entry; none mode keeps lengths only', async () => {
    mode = 'encrypted';
    const store = await open();
    await store.ingest([{ kind: 'chat.input', input: 'classified prompt' }]);
    await store.ingest([{ kind: 'chat.input', input: 'metadata only', content_mode: 'none' }]);
    const enc = await store.get({ seq: 1 });
    assert.equal(enc.content.mode, 'encrypted');
    assert.equal(enc.content.key_id, keys.encryption.id);
    const field = enc.content.input_enc ?? '';
    assert.equal(decryptField(keys.encryption.key, field, `${enc.id}:input`), 'classified prompt');
    assert.throws(() => decryptField(keys.encryption.key, field, `${enc.id}:output`), { code: 'decrypt_failed' });
    const none = await store.get({ seq: 2 });
    assert.deepEqual(none.content, { mode: 'none', input_length: 'metadata only'.length });
  });

  test('encrypted mode, a batch large enough for the encryption worker: mixed modes and fields, each decrypts in its own entry', async () => {
    mode = 'encrypted';
    const store = await open();
    // Inputs, outputs, both, neither, and events in other modes between them: the worker's fields must land
    // in the right entry and slot (a field in the wrong one does not decrypt there).
    const events = Array.from({ length: 120 }, (_, i) => {
      const shape = i % 6;
      const event: Record<string, unknown> = { kind: 'chat.input' };
      if (shape !== 2 && shape !== 5) event.input = `prompt ${i}`;
      if (shape === 1 || shape === 2) event.output = `answer ${i}`;
      if (shape === 3) event.content_mode = 'hash';
      if (shape === 4) event.content_mode = 'none';
      return event;
    });
    (await store.ingest(events)).forEach(acked);
    for (let i = 0; i < events.length; i++) {
      const event = events[i] as Record<string, unknown>;
      const entry = await store.get({ seq: i + 1 });
      const { content } = entry;
      if (event.content_mode === 'hash') {
        assert.match(content.input_hmac ?? '', /^[0-9a-f]{64}$/);
        continue;
      }
      if (event.content_mode === 'none' || (event.input === undefined && event.output === undefined)) {
        assert.equal(content.input_enc, undefined);
        assert.equal(content.output_enc, undefined);
        continue;
      }
      assert.equal(content.mode, 'encrypted');
      assert.equal(content.key_id, keys.encryption.id);
      if (event.input !== undefined) assert.equal(decryptField(keys.encryption.key, content.input_enc ?? '', `${entry.id}:input`), event.input);
      else assert.equal(content.input_enc, undefined);
      if (event.output !== undefined) assert.equal(decryptField(keys.encryption.key, content.output_enc ?? '', `${entry.id}:output`), event.output);
      else assert.equal(content.output_enc, undefined);
    }
    assert.equal((await store.verify({})).ok, true);
  });

  test('a bad event gets a typed error naming the field; the others in the batch go in', async () => {
    const store = await open();
    const results = await store.ingest([
      { kind: 'chat.input' },
      { kind: 'chat.input', risk_score: 'high' },
      { kind: 'nonsense' },
      { kind: 'chat.input', ts: new Date(clock + DAY).toISOString() },
      { kind: 'chat.output' },
    ]);
    assert.equal(acked(results[0] as IngestAck).seq, 1);
    const bad = results[1] as IngestRejected;
    assert.equal(bad.error.code, 'invalid_params');
    assert.match(bad.error.message, /risk_score/);
    assert.equal((results[2] as IngestRejected).error.code, 'invalid_params');
    assert.equal((results[3] as IngestRejected).error.code, 'future_timestamp');
    assert.equal(acked(results[4] as IngestAck).seq, 2);
  });

  test('an idempotency key returns the original ack, within a batch, across batches and after a restart', async () => {
    let store = await open();
    const [first, again] = (await store.ingest([
      { kind: 'chat.input', idempotency_key: 'k-1' },
      { kind: 'chat.input', idempotency_key: 'k-1' },
    ])) as IngestAck[];
    assert.deepEqual({ seq: again?.seq, id: again?.id, duplicate: again?.duplicate }, { seq: first?.seq, id: first?.id, duplicate: true });
    const later = acked((await store.ingest([{ kind: 'chat.input', idempotency_key: 'k-1' }]))[0] as IngestAck);
    assert.equal(later.seq, first?.seq);
    await store.close();
    store = await open();
    const afterRestart = acked((await store.ingest([{ kind: 'chat.input', idempotency_key: 'k-1' }]))[0] as IngestAck);
    assert.equal(afterRestart.seq, first?.seq);
    assert.equal(afterRestart.duplicate, true);
    assert.equal(store.lastSeq, 1);
  });

  test('normalizes the decision from every producer dialect', async () => {
    const store = await open();
    await store.ingest([
      { kind: 'governance.check', allowed: false, risk_score: 0.9, reason: 'policy' },
      { kind: 'chat.input', event_type: 'blocked' },
      { kind: 'chat.input', event_type: 'scan', scan_result: { flagged: true, threat_level: 'high' } },
      { kind: 'chat.input', safety_passed: true },
      { kind: 'chat.input', scanner: { name: 'lakera', error: { code: 'timeout', message: 'no answer' } } },
    ]);
    const { entries } = await store.query(undefined, 10);
    assert.deepEqual(
      entries.map((e) => e.decision).reverse(),
      ['blocked', 'blocked', 'warned', 'allowed', 'error'],
    );
    assert.equal(entries.find((e) => e.seq === 3)?.threat_level, 'high');
  });

  test('query pages newest first with a cursor and filters', async () => {
    const store = await open({ segmentMaxBytes: 4096 });
    for (let i = 0; i < 120; i++) {
      await store.ingest([{ kind: i % 3 === 0 ? 'chat.output' : 'chat.input', model: i % 2 === 0 ? 'gpt' : 'llama', actor: { user_id: `u${i % 4}` }, decision: i % 5 === 0 ? 'blocked' : 'allowed' }]);
    }
    assert.ok(store.segmentCount > 3, 'small segments rotate');
    const seen: number[] = [];
    let cursor: string | undefined;
    for (;;) {
      const page = await store.query(undefined, 25, cursor);
      seen.push(...page.entries.map((e) => e.seq));
      if (page.next_cursor === null) break;
      cursor = page.next_cursor;
    }
    assert.deepEqual(seen, Array.from({ length: 120 }, (_, i) => 120 - i));
    const filtered = await store.query({ kind: 'chat.output', model: 'gpt', decision: 'blocked' }, 100);
    const expected = Array.from({ length: 120 }, (_, i) => i)
      .filter((i) => i % 3 === 0 && i % 2 === 0 && i % 5 === 0)
      .map((i) => i + 1)
      .reverse();
    assert.deepEqual(filtered.entries.map((e) => e.seq), expected);
    const byUser = await store.query({ user: 'u1' }, 1000);
    assert.equal(byUser.entries.length, 30);
    await assert.rejects(store.query(undefined, 10, 'garbage!'), { code: 'bad_cursor' });
    assert.equal((await store.verify({})).ok, true);
  });

  test('forged cursors: a typed error or a page of the filter asked for, never a page read ahead for another', async () => {
    const store = await open({ segmentMaxBytes: 4096 });
    for (let i = 0; i < 60; i++) {
      await store.ingest([{ kind: i % 2 === 0 ? 'chat.output' : 'chat.input', model: i % 3 === 0 ? 'gpt' : 'llama', decision: i % 4 === 0 ? 'blocked' : 'allowed' }]);
    }
    const forged = (text: string) => Buffer.from(text).toString('base64url');
    const first = await store.query({ kind: 'chat.output' }, 5);
    const cursor = first.next_cursor ?? '';
    // Asked for by cursor: the page after it is read ahead for this filter and limit.
    const second = await store.query({ kind: 'chat.output' }, 5, cursor);
    const next = second.next_cursor ?? '';
    for (const [filter, limit] of [[{ kind: 'chat.input' }, 5], [{ model: 'gpt' }, 5], [undefined, 5], [{ kind: 'chat.output' }, 3]] as const) {
      const page = await store.query(filter, limit, next);
      assert.ok(page.entries.length > 0 && page.entries.length <= limit);
      assert.ok(page.entries.every((e) => compileFilter(filter).matches(e)), JSON.stringify(filter));
      assert.deepEqual(page.lines.map((l) => (JSON.parse(l) as Entry).seq), page.entries.map((e) => e.seq));
    }
    const [segment, offset] = Buffer.from(next, 'base64url').toString('utf8').split('.');
    for (const text of [
      `${'9'.repeat(400)}.0.1`,
      `${segment}.${'9'.repeat(400)}.1`,
      `${segment}.${Number(offset) + 1_000_000}.1`,
      '999.0.1',
      `${segment}.${offset}`,
      `${segment}.${offset}.1.2`,
      `${segment}.-1.1`,
      `${segment}.1e3.1`,
      '..',
      '',
    ]) {
      await assert.rejects(store.query(undefined, 5, forged(text)), { code: 'bad_cursor' }, text);
    }
    // Inside a line: a typed page of whole entries (the cut line is not one), never a crash.
    // Also where only the segment's listed (notable) lines are read.
    for (const filter of [undefined, { decision: 'blocked' as const }]) {
      for (let cut = 1; cut < 40; cut += 7) {
        const page = await store.query(filter, 5, forged(`${segment}.${Number(offset) - cut}.1`));
        assert.deepEqual(page.lines.map((l) => (JSON.parse(l) as Entry).seq), page.entries.map((e) => e.seq));
        assert.ok(page.entries.every((e) => compileFilter(filter).matches(e)));
      }
    }
  });

  test('a top-level null means not set; customer, conversation and MCP server filters', async () => {
    const store = await open();
    const results = await store.ingest([
      { kind: 'governance.check', customer_id: 'c1', block_reason: null, allowed: true },
      { kind: 'mcp.call', mcp_server: 'github', conversation_id: 'conv-1' },
    ]);
    assert.ok(results.every((r) => !('error' in r)), JSON.stringify(results));
    assert.deepEqual((await store.query({ customer: 'c1' }, 10)).entries.map((e) => e.seq), [1]);
    assert.deepEqual((await store.query({ conversation: 'conv-1' }, 10)).entries.map((e) => e.seq), [2]);
    assert.deepEqual((await store.query({ mcp_server: 'github' }, 10)).entries.map((e) => e.seq), [2]);
  });

  test('query by time range and text of metadata, never content', async () => {
    const store = await open();
    await store.ingest([
      { kind: 'chat.input', ts: '2026-11-01T00:00:00Z', metadata: { ticket: 'SEC-42' }, input: 'SEC-99 secret' },
      { kind: 'chat.input', ts: '2026-11-10T00:00:00Z', reason: 'Jailbreak attempt' },
      { kind: 'chat.input', ts: '2026-11-15T00:00:00Z' },
    ]);
    const range = await store.query({ since: '2026-11-05T00:00:00Z', until: '2026-11-15T00:00:00Z' }, 10);
    assert.deepEqual(range.entries.map((e) => e.seq), [2]);
    assert.deepEqual((await store.query({ text: 'sec-42' }, 10)).entries.map((e) => e.seq), [1]);
    assert.deepEqual((await store.query({ text: 'SEC-99' }, 10)).entries.map((e) => e.seq), []);
    assert.deepEqual((await store.query({ text: 'jailbreak' }, 10)).entries.map((e) => e.seq), [2]);
  });

  test('get finds entries by seq and by id across segments', async () => {
    const store = await open({ segmentMaxBytes: 2048 });
    const acks: IngestAck[] = [];
    for (let i = 0; i < 60; i++) acks.push(acked((await store.ingest([{ kind: 'chat.input', metadata: { i } }]))[0] as IngestAck));
    for (const ack of [acks[0], acks[31], acks[59]]) {
      assert.ok(ack);
      assert.equal((await store.get({ seq: ack.seq })).id, ack.id);
      assert.equal((await store.get({ id: ack.id })).seq, ack.seq);
    }
    await assert.rejects(store.get({ seq: 999 }), { code: 'not_found' });
    await assert.rejects(store.get({ id: 'nope' }), { code: 'not_found' });
  });

  test('stats count per day per decision, top categories and mean risk by model and operation', async () => {
    const store = await open({ segmentMaxBytes: 1024 });
    await store.ingest([
      { kind: 'governance.check', ts: '2026-11-18T09:00:00Z', allowed: true, model: 'gpt', operation: 'chat', risk_score: 0.2 },
      { kind: 'governance.check', ts: '2026-11-18T10:00:00Z', allowed: false, model: 'gpt', operation: 'chat', risk_score: 0.8 },
      { kind: 'chat.input', ts: '2026-11-19T10:00:00Z', event_type: 'blocked', scanner: { flagged: true, categories: { prompt_injection: true, pii: false } } },
      { kind: 'chat.input', ts: '2026-11-19T11:00:00Z', event_type: 'scan', scanner: { flagged: true, categories: { prompt_injection: true, jailbreak: true } } },
    ]);
    const stats = await store.stats(undefined, 10);
    assert.equal(stats.total, 4);
    assert.deepEqual(stats.per_day, [
      { day: '2026-11-18', allowed: 1, blocked: 1, warned: 0, error: 0 },
      { day: '2026-11-19', allowed: 0, blocked: 1, warned: 1, error: 0 },
    ]);
    assert.deepEqual(stats.top_categories, [
      { category: 'prompt_injection', count: 2 },
      { category: 'jailbreak', count: 1 },
    ]);
    assert.equal(stats.risk_by_model.length, 1);
    assert.equal(stats.risk_by_model[0]?.model, 'gpt');
    assert.ok(Math.abs((stats.risk_by_model[0]?.mean_risk ?? 0) - 0.5) < 1e-9);
    const blockedOnly = await store.stats({ decision: 'blocked' }, 10);
    assert.equal(blockedOnly.total, 2);
    // The store's own audit.* records are not AI traffic: they stay out of the charts.
    await store.appendAudit('audit.settings', { changed: {} });
    assert.equal((await store.stats(undefined, 10)).total, 4);
  });

  test('retention drops whole old segments, leaves a signed anchor, records itself, and verify passes', async () => {
    const store = await open({ segmentMaxBytes: 1024 });
    for (let i = 0; i < 30; i++) await store.ingest([{ kind: 'chat.input', ts: new Date(clock).toISOString() }]);
    clock += 100 * DAY;
    for (let i = 0; i < 5; i++) await store.ingest([{ kind: 'chat.input', ts: new Date(clock).toISOString() }]);
    const before = store.entryCount;
    const result = await store.runRetention(90, { recordWhenNothingDropped: true });
    assert.ok(result.dropped_segments > 0);
    assert.equal(result.dropped_entries, 30);
    assert.equal(result.anchor_seq, 30);
    assert.equal(store.entryCount, before - 30 + 1, 'old entries gone, one audit.retention entry added');
    assert.equal(store.firstSeq, 31);
    const audit = await store.query({ kind: 'audit.retention' }, 1);
    assert.equal(audit.entries[0]?.audit?.dropped_entries, 30);
    const report = await store.verify({});
    assert.equal(report.ok, true, JSON.stringify(report.problem));
    assert.equal(report.first_seq, 31);
  });

  test('a page read ahead before retention is not handed out after it', async () => {
    const store = await open({ segmentMaxBytes: 1024 });
    for (let i = 0; i < 30; i++) await store.ingest([{ kind: 'chat.input', ts: new Date(clock).toISOString() }]);
    clock += 100 * DAY;
    for (let i = 0; i < 10; i++) await store.ingest([{ kind: 'chat.input', ts: new Date(clock).toISOString() }]);
    const first = await store.query({ kind: 'chat.input' }, 5);
    // A page asked for by cursor starts reading the next one: old entries 30..26.
    const second = await store.query({ kind: 'chat.input' }, 5, first.next_cursor ?? undefined);
    assert.deepEqual(second.entries.map((e) => e.seq), [35, 34, 33, 32, 31]);
    assert.equal((await store.runRetention(90)).dropped_entries, 30);
    const third = await store.query({ kind: 'chat.input' }, 5, second.next_cursor ?? undefined);
    assert.deepEqual(third, { entries: [], lines: [], next_cursor: null });
  });

  describe('a read that retention overtakes (it listed segments that retention then removed)', () => {
    /**
     * 30 old entries in several segments, then 10 new ones. `race()` arms the store: the next time a reader is
     * about to open one of the old segments, after it listed them, retention removes them all first.
     */
    const setUp = async (): Promise<{ store: AuditStore; oldId: string; race: () => void }> => {
      let armed = false;
      let oldSegments = 0;
      let store: AuditStore | null = null;
      store = await open({
        segmentMaxBytes: 1024,
        beforeSegmentRead: async (segment) => {
          if (!armed || segment > oldSegments || store === null) return;
          armed = false;
          assert.equal((await store.runRetention(90)).dropped_entries, 30);
        },
      });
      for (let i = 0; i < 30; i++) await store.ingest([{ kind: 'chat.input', ts: new Date(clock).toISOString() }]);
      oldSegments = store.segmentCount;
      assert.ok(oldSegments > 1);
      const oldId = (await store.get({ seq: 5 })).id;
      clock += 100 * DAY;
      for (let i = 0; i < 10; i++) await store.ingest([{ kind: 'chat.input', ts: new Date(clock).toISOString() }]);
      return { store, oldId, race: () => void (armed = true) };
    };

    test('query answers with the entries still stored', async () => {
      const { store, race } = await setUp();
      race();
      const page = await store.query({ kind: 'chat.input' }, 25);
      assert.deepEqual(page.entries.map((e) => e.seq), [40, 39, 38, 37, 36, 35, 34, 33, 32, 31]);
      assert.equal(page.next_cursor, null);
    });

    test('stats count the entries still stored', async () => {
      const { store, race } = await setUp();
      race();
      const stats = await store.stats({ kind: 'chat.input', since: new Date(clock - 200 * DAY).toISOString() }, 5);
      assert.equal(stats.total, 10);
    });

    test('get answers not_found, by seq and by id', async () => {
      const { store, oldId, race } = await setUp();
      race();
      await assert.rejects(store.get({ seq: 5 }), (error: unknown) => (error as AuditError).code === ErrorCodes.NotFound);
      race();
      await assert.rejects(store.get({ id: oldId }), (error: unknown) => (error as AuditError).code === ErrorCodes.NotFound);
    });

    test("an export's walk skips the removed segments (the export then refuses the gap)", async () => {
      const { store, race } = await setUp();
      race();
      const seqs: number[] = [];
      for await (const chunk of store.lineChunksBySeq(1, 40)) {
        for (const line of chunk.toString('utf8').split('\n')) if (line !== '') seqs.push((JSON.parse(line) as Entry).seq);
      }
      assert.deepEqual(seqs.filter((seq) => seq <= 40), [31, 32, 33, 34, 35, 36, 37, 38, 39, 40]);
    });

    test('verify is redone on the store as retention left it, and passes', async () => {
      const { store, race } = await setUp();
      race();
      const report = await store.verify({});
      assert.equal(report.ok, true, JSON.stringify(report.problem));
      assert.equal(report.first_seq, 31);
    });
  });

  test('persists across a restart and continues the chain', async () => {
    let store = await open();
    await store.ingest([{ kind: 'chat.input' }, { kind: 'chat.output' }]);
    const hash = store.lastHash;
    await store.close();
    store = await open();
    assert.equal(store.lastSeq, 2);
    assert.equal(store.lastHash, hash);
    const ack = acked((await store.ingest([{ kind: 'chat.input' }]))[0] as IngestAck);
    assert.equal(ack.seq, 3);
    assert.equal((await store.get({ seq: 3 })).prev, hash);
    const report = await store.verify({});
    assert.equal(report.ok, true);
    assert.ok(report.checkpoints_checked >= 1);
  });

  test('tail listeners receive each committed batch', async () => {
    const store = await open();
    const seen: Entry[] = [];
    const sub = store.onEntries((entries) => seen.push(...entries));
    await store.ingest([{ kind: 'chat.input' }, { kind: 'chat.output' }]);
    sub.dispose();
    await store.ingest([{ kind: 'chat.input' }]);
    assert.deepEqual(seen.map((e) => e.seq), [1, 2]);
  });

  test('concurrent ingests are group-committed without losing or reordering any', async () => {
    const store = await open();
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => store.ingest([{ kind: 'chat.input', metadata: { i } }])));
    // In the order they were made: request i gets seq i + 1, and that entry is the one of request i.
    assert.deepEqual(results.map((r) => acked(r[0] as IngestAck).seq), Array.from({ length: 200 }, (_, i) => i + 1));
    const { entries } = await store.query(undefined, 1000);
    assert.deepEqual(entries.map((e) => [e.seq, e.metadata?.i]).reverse(), Array.from({ length: 200 }, (_, i) => [i + 1, i]));
    assert.equal((await store.verify({})).ok, true);
  });

  test('group commit: requests made together share one write and one fdatasync', async () => {
    const store = await open();
    // Count the real fdatasync calls of every file handle (a FileHandle is only reachable through an instance).
    const probe = await fsOpen(join(home.path, 'probe'), 'w');
    const prototype = Object.getPrototypeOf(probe) as { datasync: () => Promise<void> };
    await probe.close();
    const original = prototype.datasync;
    let datasyncs = 0;
    prototype.datasync = function (this: unknown) {
      datasyncs++;
      return original.call(this);
    };
    // Small batches are synced on the event loop (see AuditStore.commit): counted too.
    const originalSync = fs.fdatasyncSync;
    fs.fdatasyncSync = (fd: number): void => {
      datasyncs++;
      originalSync(fd);
    };
    try {
      const batches: number[] = [];
      const sub = store.onEntries((entries) => batches.push(entries.length));
      const together = await Promise.all(Array.from({ length: 100 }, (_, i) => store.ingest([{ kind: 'chat.input', metadata: { i } }])));
      assert.equal(together.length, 100);
      assert.deepEqual(batches, [100], 'one batch for 100 requests made in the same tick');
      assert.equal(datasyncs, 1, 'one fdatasync for the whole batch');
      // One at a time: each request is its own batch with its own fdatasync (acks only after it).
      for (let i = 0; i < 3; i++) await store.ingest([{ kind: 'chat.output' }]);
      assert.deepEqual(batches, [100, 1, 1, 1]);
      assert.equal(datasyncs, 4);
      sub.dispose();
    } finally {
      prototype.datasync = original;
      fs.fdatasyncSync = originalSync;
    }
  });

  test('a signed checkpoint covers the chain end every minute (unsigned_tail counts what is not yet signed)', async (t) => {
    // The minute timer is mocked (only setInterval): the default interval, without waiting a real minute.
    t.mock.timers.enable({ apis: ['setInterval'] });
    const store = await open();
    const probe = async (): Promise<void> => {
      // A write queues behind any checkpoint the timer started: after its ack, that checkpoint is on disk.
      acked((await store.ingest([{ kind: 'chat.output' }]))[0] as IngestAck);
    };
    await store.ingest(Array.from({ length: 5 }, () => ({ kind: 'chat.input' })));
    assert.equal((await store.verify({})).unsigned_tail, 5);
    t.mock.timers.tick(59_999);
    await probe();
    assert.equal((await store.verify({})).unsigned_tail, 6, 'no checkpoint before the minute is up');
    t.mock.timers.tick(1);
    await probe();
    const report = await store.verify({});
    assert.equal(report.ok, true, JSON.stringify(report.problem));
    assert.equal(report.unsigned_tail, 1, 'the minute signed seq 6; only the probe after it is unsigned');
  });

  test('a signed checkpoint is written after every 10,000 entries', async (t) => {
    t.mock.timers.enable({ apis: ['setInterval'] });
    const store = await open();
    const many = (n: number) => Array.from({ length: n }, () => ({ kind: 'chat.input' as const }));
    await store.ingest(many(9_999));
    assert.equal((await store.verify({})).unsigned_tail, 9_999, 'not yet signed');
    await store.ingest(many(1));
    await store.ingest(many(1)); // queues behind the checkpoint of the batch before
    const report = await store.verify({});
    assert.equal(report.ok, true, JSON.stringify(report.problem));
    assert.equal(report.unsigned_tail, 1, 'signed at seq 10,000; only seq 10,001 is not');
  });

  test('busy once 200,000 events wait for their fsync; nothing of the refused request is stored', async () => {
    const store = await open();
    const event = { kind: 'chat.input' as const };
    // Requests made in one tick all queue before the first write starts.
    const queued = Array.from({ length: 20 }, (_, i) => store.ingest(Array.from({ length: i === 19 ? 9_999 : 10_000 }, () => event)));
    queued.push(store.ingest([event])); // the 200,000th fits
    await assert.rejects(store.ingest([event]), (error: unknown) => {
      const e = error as { code: string; data?: { queue_depth?: number; retry_after_ms?: number } };
      assert.equal(e.code, 'busy');
      assert.equal(e.data?.queue_depth, 200_000);
      assert.ok((e.data?.retry_after_ms ?? 0) > 0);
      return true;
    });
    const results = (await Promise.all(queued)).flat();
    assert.equal(results.length, 200_000);
    assert.ok(results.every((r) => !('error' in r)));
    assert.equal(store.lastSeq, 200_000);
    acked((await store.ingest([event]))[0] as IngestAck);
  });

  test('recorded_at never goes backwards when the system clock steps back, also across a restart', async () => {
    let store = await open();
    await store.ingest([{ kind: 'chat.input' }]);
    clock -= 3_600_000;
    await store.ingest([{ kind: 'chat.input', ts: new Date(clock).toISOString() }]);
    await store.close();
    clock -= 3_600_000;
    store = await open();
    await store.ingest([{ kind: 'chat.input', ts: new Date(clock).toISOString() }]);
    const recorded = (await store.query(undefined, 10)).entries.reverse().map((e) => e.recorded_at);
    assert.equal(recorded.length, 3);
    assert.deepEqual(recorded, [...recorded].sort(), `recorded_at went backwards: ${recorded.join(', ')}`);
    assert.equal(recorded[2], recorded[0]);
  });

  describe('queries that read only the lines of notable entries', () => {
    const filters: EntryFilter[] = [
      { decision: 'blocked' },
      { decision: ['blocked', 'warned'] },
      { flagged: true },
      { decision: 'error', kind: 'chat.output' },
      { decision: 'blocked', since: '2026-11-20T10:00:00.000Z' },
    ];
    /** Every page of `filter` (limit 7), and what a scan of all entries finds, newest first. */
    const pagesAndScan = async (s: AuditStore, filter: EntryFilter) => {
      const paged: number[] = [];
      let cursor: string | undefined;
      do {
        const page = await s.query(filter, 7, cursor);
        paged.push(...page.entries.map((e) => e.seq));
        cursor = page.next_cursor ?? undefined;
      } while (cursor !== undefined);
      const matches = compileFilter(filter).matches;
      const scanned = (await s.query(undefined, 100_000)).entries.filter(matches).map((e) => e.seq);
      return { paged, scanned };
    };
    const fill = async (): Promise<AuditStore> => {
      const store = await open({ segmentMaxBytes: 4096 });
      for (let batch = 0; batch < 12; batch++) {
        clock += 3600_000;
        const events = [];
        for (let i = batch * 25; i < (batch + 1) * 25; i++) {
          const decision = i % 7 === 0 ? 'blocked' : i % 11 === 0 ? 'warned' : i % 29 === 0 ? 'error' : 'allowed';
          const flagged = i % 13 === 0;
          events.push({ kind: i % 3 === 0 ? 'chat.output' : 'chat.input', decision, scanner: { name: 'test', flagged }, metadata: { i } });
        }
        await store.ingest(events);
      }
      return store;
    };

    test('give the same pages as a scan, in open and closed segments, and after a restart', async () => {
      const store = await fill();
      for (const filter of filters) {
        const { paged, scanned } = await pagesAndScan(store, filter);
        assert.ok(scanned.length > 0, JSON.stringify(filter));
        assert.deepEqual(paged, scanned, JSON.stringify(filter));
      }
      await store.close();
      const reopened = await open({ segmentMaxBytes: 4096 });
      assert.ok(reopened.segmentCount >= 3, 'several closed segments');
      for (const filter of filters) {
        const { paged, scanned } = await pagesAndScan(reopened, filter);
        assert.deepEqual(paged, scanned, JSON.stringify(filter));
      }
    });

    test('sidecars written before summaries listed notable entries still serve queries and verify', async () => {
      const store = await fill();
      await store.close();
      const sidecars = (await filesUnder(home.path)).filter((f) => f.endsWith('.summary.json'));
      assert.ok(sidecars.length >= 3);
      for (const file of sidecars) {
        const { key_id: _k, mac: _m, notable, ...summary } = JSON.parse(await readFile(file, 'utf8')) as SealedSummary;
        assert.ok(Array.isArray(notable), 'new sidecars list notable entries');
        await writeFile(file, JSON.stringify(sealSummary(summary, { activeId: keys.hmac.id, keys: keys.hmacKeys })));
      }
      const reopened = await open({ segmentMaxBytes: 4096 });
      for (const filter of filters) {
        const { paged, scanned } = await pagesAndScan(reopened, filter);
        assert.deepEqual(paged, scanned, JSON.stringify(filter));
      }
      const report = await reopened.verify({});
      assert.equal(report.ok, true, JSON.stringify(report.problem));
      // A current sidecar whose list was emptied (and sealed again, as only the daemon can) fails verify.
      const file = sidecars[0] ?? '';
      const { key_id: _k, mac: _m, ...summary } = JSON.parse(await readFile(file, 'utf8')) as SealedSummary;
      await writeFile(file, JSON.stringify(sealSummary({ ...summary, notable: [] }, { activeId: keys.hmac.id, keys: keys.hmacKeys })));
      const lying = await reopened.verify({});
      assert.equal(lying.problem?.code, 'summary_mismatch');
    });
  });

  test('a clean close leaves the open segment\'s summary for the next start; a stale one is not used', async () => {
    const first = await open();
    await first.ingest(Array.from({ length: 30 }, (_, i) => ({ kind: 'chat.input', decision: i % 4 === 0 ? 'blocked' : 'allowed' })));
    await first.close();
    const sidecar = (await filesUnder(home.path)).filter((f) => f.endsWith('.summary.json'));
    assert.equal(sidecar.length, 1, 'the open segment has a sealed summary after a clean close');
    const stale = await readFile(sidecar[0] ?? '', 'utf8');
    const second = await open();
    assert.deepEqual((await filesUnder(home.path)).filter((f) => f.endsWith('.summary.json')), [], 'removed before anything is appended');
    assert.equal(second.entryCount, 30);
    await second.ingest([{ kind: 'chat.input', decision: 'blocked' }]);
    await second.close();
    // The summary of 30 entries put back next to a segment of 31: it describes other bytes.
    await writeFile(sidecar[0] ?? '', stale);
    const third = await open();
    assert.equal(third.entryCount, 31);
    assert.equal(third.lastSeq, 31);
    assert.deepEqual((await third.query({ decision: 'blocked' }, 100)).entries.map((e) => e.seq), [31, 29, 25, 21, 17, 13, 9, 5, 1]);
    assert.equal((await third.verify({})).ok, true);
  });

  describe('summaries that disagree with their segment never change a result', () => {
    let store: AuditStore;
    let expected: Awaited<ReturnType<typeof results>>;
    let summaries: string[];
    const results = async (s: AuditStore) => ({
      blocked: (await s.query({ decision: 'blocked' }, 1000)).entries.map((e) => e.seq),
      outputs: (await s.query({ kind: 'chat.output' }, 1000)).entries.map((e) => e.seq),
      m1: (await s.query({ model: 'm1' }, 1000)).entries.map((e) => e.seq),
      all: (await s.query(undefined, 1000)).entries.length,
      stats: await s.stats(undefined, 10),
    });
    beforeEach(async () => {
      store = await open({ segmentMaxBytes: 1024 });
      for (let i = 0; i < 40; i++) {
        await store.ingest([{ kind: i % 4 === 0 ? 'chat.output' : 'chat.input', decision: i % 3 === 0 ? 'blocked' : 'allowed', model: `m${i % 2}` }]);
      }
      expected = await results(store);
      assert.equal(expected.blocked.length, 14);
      await store.close();
      summaries = (await filesUnder(home.path)).filter((f) => f.endsWith('.summary.json'));
      assert.ok(summaries.length >= 3, 'several closed segments');
    });

    test('a stale summary (of other bytes) is rebuilt', async () => {
      const file = summaries[0] ?? '';
      const first = JSON.parse(await readFile(file, 'utf8')) as { bytes: number };
      await writeFile(file, JSON.stringify({ ...first, bytes: first.bytes - 1, count: 0, decisions: {} }));
      assert.deepEqual(await results(await open({ segmentMaxBytes: 1024 })), expected);
    });

    // Issue 9 item 3: a summary whose size matches its segment was trusted, and changed query and stats results.
    test('a summary rewritten to lie about its contents (sizes kept) changes no query or stats result', async () => {
      for (const file of summaries) {
        const summary = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown> & { count: number; days: Record<string, unknown> };
        const days = Object.fromEntries(Object.keys(summary.days).map((day) => [day, { allowed: summary.count }]));
        await writeFile(file, JSON.stringify({ ...summary, decisions: { allowed: summary.count }, kinds: { 'chat.input': summary.count }, days, risk: {} }));
      }
      assert.deepEqual(await results(await open({ segmentMaxBytes: 1024 })), expected);
    });
  });

  test('a resend while the original is still being written waits for it: one entry, both acked with its seq', async () => {
    const store = await open();
    const [a, b, c] = await Promise.all([
      store.ingest([{ kind: 'chat.input', idempotency_key: 'k-race' }, { kind: 'chat.output' }]),
      store.ingest([{ kind: 'chat.input', idempotency_key: 'k-race' }]),
      store.ingest([{ kind: 'chat.input', idempotency_key: 'k-race' }, { kind: 'chat.input', idempotency_key: 'k-race' }]),
    ]);
    const original = acked(a?.[0] as IngestAck);
    assert.equal(original.duplicate, undefined);
    for (const resend of [b?.[0], c?.[0], c?.[1]]) assert.deepEqual(acked(resend as IngestAck), { seq: original.seq, id: original.id, duplicate: true });
    assert.equal(store.lastSeq, 2);
  });

  test('audit entries record operations on the store itself', async () => {
    const store = await open();
    const ack = await store.appendAudit('audit.settings', { changed: { content_mode: { from: 'hash', to: 'none' } } });
    const entry = await store.get({ seq: ack.seq });
    assert.equal(entry.kind, 'audit.settings');
    assert.deepEqual(entry.audit, { changed: { content_mode: { from: 'hash', to: 'none' } } });
  });

  test('the idempotency window remembers the newest keys only, also after a restart', async () => {
    let store = await open({ idempotencyWindow: 3 });
    const originals = (await store.ingest([0, 1, 2, 3, 4].map((i) => ({ kind: 'chat.input', idempotency_key: `w-${i}` })))).map(acked);
    const [newest] = (await store.ingest([{ kind: 'chat.input', idempotency_key: 'w-4' }])).map(acked);
    assert.deepEqual(newest, { ...originals[4], duplicate: true });
    const [forgotten] = (await store.ingest([{ kind: 'chat.input', idempotency_key: 'w-0' }])).map(acked);
    assert.equal(forgotten?.duplicate, undefined, 'a key older than the window is stored again');
    assert.equal(forgotten?.seq, 6);
    await store.close();
    store = await open({ idempotencyWindow: 3 });
    const again = (await store.ingest(['w-0', 'w-4', 'w-3', 'w-2'].map((key) => ({ kind: 'chat.input', idempotency_key: key })))).map(acked);
    assert.deepEqual(again.slice(0, 3), [
      { ...forgotten, duplicate: true },
      { ...originals[4], duplicate: true },
      { ...originals[3], duplicate: true },
    ]);
    assert.equal(again[3]?.duplicate, undefined, 'the reload keeps the window, not every key on disk');
  });

  test('single-event requests arriving together share batches; a lone request after them is still written, and close does not wait for more', async () => {
    const store = await open();
    const together = await Promise.all(Array.from({ length: 8 }, (_, i) => store.ingest([{ kind: 'chat.input', idempotency_key: `g-${i}` }])));
    assert.deepEqual(together.map((r) => acked(r[0] as IngestAck).seq), [1, 2, 3, 4, 5, 6, 7, 8]);
    // The writer now expects eight requests; one alone is written when the short wait runs out.
    const [lone] = (await store.ingest([{ kind: 'chat.input' }])).map(acked);
    assert.equal(lone?.seq, 9);
    await Promise.all(Array.from({ length: 8 }, () => store.ingest([{ kind: 'chat.input' }])));
    const last = store.ingest([{ kind: 'chat.input' }]);
    await store.close();
    assert.equal(acked((await last)[0] as IngestAck).seq, 18);
    assert.equal((await store.verify({})).ok, true);
  });
});
