import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { IngestEvent, normalizeDecision, normalizeEvent } from '../../../daemon/protocol/entry.ts';
import { DAEMON_VERSION } from '../../../daemon/version.ts';

const parse = (value: unknown) => normalizeEvent(IngestEvent.parse(value));

describe('ingest events in the dialect of each input document', () => {
  test('Lakera telemetry payload (lakera-telemetry.md)', () => {
    const event = parse({
      kind: 'chat.input',
      timestamp: '2026-01-09T23:45:00.000Z',
      event_type: 'blocked',
      context: { type: 'chat', source: 'chat' },
      scan_result: { flagged: true, categories: { prompt_injection: true }, scores: { threat: 0.85 }, threat_level: 'high' },
      metadata: { message_length: 150, detected_patterns: ['System Override', 'Jailbreak Attempt'] },
      user_ip: '192.168.1.1',
      project_id: 'your-project-id',
    });
    assert.equal(event.ts, '2026-01-09T23:45:00.000Z');
    assert.deepEqual(event.scanner, { flagged: true, categories: { prompt_injection: true }, scores: { threat: 0.85 } });
    assert.equal(event.threat_level, 'high');
    assert.deepEqual(event.context, { type: 'chat', source: 'chat' });
    assert.equal(event.actor?.ip, '192.168.1.1');
    assert.deepEqual(event.metadata?.detected_patterns, ['System Override', 'Jailbreak Attempt']);
    assert.equal(normalizeDecision(event), 'blocked');
  });

  test('governance UsageLog row (governance-usage-log.md)', () => {
    const event = parse({
      kind: 'governance.check',
      id: '5b8f7d0e-2f0a-4d8e-9d7b-2b1c7c1d0e11',
      customer_id: 'cust-1',
      api_key_id: 'key-9',
      model: 'gpt-4',
      operation: 'chat',
      meta: { department: 'finance' },
      risk_score: 0.72,
      allowed: false,
      reason: 'PII detected',
      created_at: '2026-02-01T08:00:00Z',
    });
    assert.equal(event.source_id, '5b8f7d0e-2f0a-4d8e-9d7b-2b1c7c1d0e11');
    assert.equal(event.ts, '2026-02-01T08:00:00Z');
    assert.deepEqual(event.metadata, { department: 'finance' });
    assert.equal(normalizeDecision(event), 'blocked');
    assert.equal(event.allowed, false, 'the original field is kept as sent');
  });

  test('rotalabs interaction (rotalabs-audit-logging.md)', () => {
    const event = parse({
      kind: 'chat.output',
      input: 'How to hack a bank?',
      output: '',
      provider: 'openai',
      model: 'gpt-4',
      conversation_id: 'conv-abc-123',
      safety_passed: false,
      detectors_triggered: ['harmful_content', 'illegal_activity'],
      block_reason: 'Content violates safety policy',
      alerts: ['Harmful request detected', 'User warned'],
      latency_ms: 50,
      input_tokens: 150,
      output_tokens: 200,
      metadata: { user_id: 'u1', session_id: 's1', use_case: 'support' },
    });
    assert.equal(normalizeDecision(event), 'blocked');
    assert.deepEqual(event.scanner?.detectors_triggered, ['harmful_content', 'illegal_activity']);
    assert.equal(event.input_tokens, 150);
  });

  test('Obot MCP audit line (obot-audit-log-exports.md)', () => {
    const event = parse({
      kind: 'mcp.call',
      timestamp: '2024-01-15T10:30:00Z',
      user_id: 'user123',
      mcp_server: 'github',
      call_type: 'tools/call',
      response_status: 'success',
    });
    assert.deepEqual(event.mcp, { server: 'github', call_type: 'tools/call', status: 'success' });
    assert.equal(event.actor?.user_id, 'user123');
    assert.equal(normalizeDecision(event), 'allowed');
  });

  test('times without an offset (Python utcnow) are taken as UTC', () => {
    assert.equal(parse({ kind: 'governance.check', created_at: '2026-02-01T08:00:00.123456' }).ts, '2026-02-01T08:00:00.123456Z');
    assert.equal(parse({ kind: 'chat.input', ts: '2026-02-01T08:00:00+02:00' }).ts, '2026-02-01T08:00:00+02:00');
  });

  test('explicit entry fields win over the seeds aliases', () => {
    const event = parse({ kind: 'chat.input', ts: '2026-01-01T00:00:00Z', timestamp: '2025-01-01T00:00:00Z', user_id: 'alias', actor: { user_id: 'explicit' } });
    assert.equal(event.ts, '2026-01-01T00:00:00Z');
    assert.equal(event.actor?.user_id, 'explicit');
  });

  test('scan alone is allowed unless flagged (then warned); a scanner error is error', () => {
    assert.equal(normalizeDecision(parse({ kind: 'chat.input', event_type: 'scan' })), 'allowed');
    assert.equal(normalizeDecision(parse({ kind: 'chat.input', event_type: 'scan', scanner: { flagged: true } })), 'warned');
    assert.equal(normalizeDecision(parse({ kind: 'chat.input', scanner: { error: { code: 'http_429', message: 'quota' } } })), 'error');
    assert.equal(normalizeDecision(parse({ kind: 'chat.input', decision: 'warned', allowed: false })), 'warned');
  });

  test('rejects unknown fields, wrong types and oversize metadata with the path', () => {
    const unknown = IngestEvent.safeParse({ kind: 'chat.input', prompt: 'x' });
    assert.equal(unknown.success, false);
    const wrong = IngestEvent.safeParse({ kind: 'chat.input', input_tokens: -1 });
    assert.equal(wrong.error?.issues[0]?.path.join('.'), 'input_tokens');
    const big = IngestEvent.safeParse({ kind: 'chat.input', metadata: { blob: 'x'.repeat(4000), more: 'y'.repeat(4000), again: 'z'.repeat(4000), last: 'w'.repeat(4500) } });
    assert.equal(big.success, false);
    const badTime = IngestEvent.safeParse({ kind: 'chat.input', ts: 'yesterday' });
    assert.equal(badTime.error?.issues[0]?.path.join('.'), 'ts');
  });
});

test('the daemon reports the version of package.json', () => {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  assert.equal(DAEMON_VERSION, pkg.version);
});
