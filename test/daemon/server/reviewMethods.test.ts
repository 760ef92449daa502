import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { DaemonClient } from '../../../daemon/client/daemonClient.ts';
import { AuditError } from '../../../daemon/protocol/errors.ts';
import { startDaemonSuite, type DaemonSuite } from '../../support/daemonSuite.ts';

describe('entry.detail, review.add and access.record', () => {
  let suite: DaemonSuite | undefined;
  let client: DaemonClient;
  const env = { AI_AUDIT_MASTER_KEY: randomBytes(32).toString('base64'), AI_AUDIT_HOME: '' };

  before(async () => {
    suite = await startDaemonSuite('review', env);
    ({ client } = suite);
  });
  after(() => suite?.dispose());

  test('a review is an audit.review entry that references the entry and shows in its detail', async () => {
    const { acks } = await client.request('ingest', { events: [{ kind: 'chat.input', input: 'hello', decision: 'blocked', actor: { user_id: 'dev' } }, { kind: 'chat.output', output: 'hi' }] });
    const seq = (acks[0] as { seq: number }).seq;
    const before = await client.request('entry.detail', { seq });
    assert.equal(before.entry.seq, seq);
    assert.deepEqual(before.reviews, []);

    const { audit_seq } = await client.request('review.add', { seq, reviewer: 'alice', verdict: 'false_positive', note: 'a greeting' });
    const review = (await client.request('get', { seq: audit_seq })).entry;
    assert.equal(review.kind, 'audit.review');
    assert.deepEqual(review.audit, { target_seq: seq, target_id: before.entry.id, reviewer: 'alice', verdict: 'false_positive', note: 'a greeting' });
    assert.equal(review.actor?.user_id, 'alice');

    const after = await client.request('entry.detail', { seq });
    assert.deepEqual(after.reviews.map((r) => r.seq), [audit_seq]);
    const other = await client.request('entry.detail', { seq: seq + 1 });
    assert.deepEqual(other.reviews, [], 'a review belongs to its entry only');
  });

  test('the detail names the signed checkpoint that covers the entry, or none yet', async () => {
    const { acks } = await client.request('ingest', { events: [{ kind: 'chat.input', input: 'x' }] });
    const seq = (acks[0] as { seq: number }).seq;
    const unsigned = await client.request('entry.detail', { seq });
    assert.equal(unsigned.checkpoint, null);
    await client.request('keys.rotate', {}); // writes a checkpoint at the end of the chain
    const signed = await client.request('entry.detail', { seq });
    assert.ok(signed.checkpoint !== null);
    assert.ok(signed.checkpoint.seq >= seq);
  });

  test('reviewing an entry that does not exist is not_found and writes nothing', async () => {
    const health = await client.request('health', {});
    await assert.rejects(client.request('review.add', { seq: 999_999, reviewer: 'a', verdict: 'ok', note: '' }), (e: unknown) => e instanceof AuditError && e.code === 'not_found');
    await assert.rejects(client.request('review.add', { seq: 1, reviewer: 'a', verdict: 'maybe' as 'ok', note: '' }), (e: unknown) => e instanceof AuditError && e.code === 'invalid_params');
    assert.equal((await client.request('health', {})).last_seq, health.last_seq);
  });

  test('access.record stores who looked at what as audit.access', async () => {
    const { audit_seq } = await client.request('access.record', {
      viewer: 'alice',
      since: '2026-11-22T10:00:00.000Z',
      until: '2026-11-22T10:01:00.000Z',
      opened: 1,
      filters: [{ decision: 'blocked' }],
      entries: [1, 2],
    });
    const entry = (await client.request('get', { seq: audit_seq })).entry;
    assert.equal(entry.kind, 'audit.access');
    assert.deepEqual(entry.audit?.filters, [{ decision: 'blocked' }]);
    assert.deepEqual(entry.audit?.entries, [1, 2]);
    const listed = await client.request('query', { filter: { kind: 'audit.access' } });
    assert.deepEqual(listed.entries.map((e) => e.seq), [audit_seq]);
  });

  test('stats by a group: decisions and mean risk per customer', async () => {
    await client.request('ingest', {
      events: [
        { kind: 'governance.check', customer_id: 'acme', allowed: false, risk_score: 0.9, model: 'm1', operation: 'chat' },
        { kind: 'governance.check', customer_id: 'acme', allowed: true, risk_score: 0.1, model: 'm1', operation: 'chat' },
        { kind: 'governance.check', customer_id: 'globex', allowed: true, model: 'm2' },
      ],
    });
    const stats = await client.request('stats', { filter: { kind: 'governance.check' }, by: 'customer' });
    assert.deepEqual(stats.groups, [
      { key: 'acme', total: 2, allowed: 1, warned: 0, blocked: 1, error: 0, mean_risk: 0.5 },
      { key: 'globex', total: 1, allowed: 1, warned: 0, blocked: 0, error: 0, mean_risk: null },
    ]);
    const plain = await client.request('stats', {});
    assert.equal(plain.groups, undefined);
  });
});
