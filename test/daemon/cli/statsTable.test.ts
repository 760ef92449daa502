import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { formatStats, table } from '../../../daemon/cli/statsTable.ts';
import type { Stats } from '../../../daemon/protocol/messages.ts';
import { runCliProcess, startDaemonProcess, type DaemonProcess } from '../../support/daemonProcess.ts';
import { tempDir } from '../../support/tempDir.ts';

test('tables pad columns and right-align numbers', () => {
  assert.equal(table(['name', 'n'], [['a', '1'], ['bbb', '10']], new Set([1])), 'name   n\n----  --\na      1\nbbb   10');
});

test('without --by the three chart aggregates are printed', () => {
  const stats: Stats = {
    total: 3,
    per_day: [{ day: '2026-11-22', allowed: 1, warned: 1, blocked: 1, error: 0 }],
    top_categories: [{ category: 'pii', count: 2 }],
    risk_by_model: [{ model: 'gpt-4o', operation: '', mean_risk: 0.5, count: 2 }],
  };
  const text = formatStats(stats, undefined);
  assert.match(text, /^3 entries/);
  assert.match(text, /2026-11-22 +1 +1 +1 +0/);
  assert.match(text, /pii +2/);
  assert.match(text, /gpt-4o +\(none\) +0\.500 +2/);
});

describe('ai-audit stats against a running daemon', () => {
  let home: { path: string; dispose(): Promise<void> };
  let daemon: DaemonProcess;
  const env = { AI_AUDIT_MASTER_KEY: randomBytes(32).toString('base64'), AI_AUDIT_HOME: '' };
  const cli = (args: string[], input?: string) => runCliProcess([...args, '--home', home.path], input === undefined ? { env } : { env, input });

  before(async () => {
    home = await tempDir('stats');
    daemon = await startDaemonProcess(home.path, env);
    const rows = [
      { kind: 'governance.check', customer_id: 'acme', allowed: false, risk_score: 0.9, model: 'm1', operation: 'chat' },
      { kind: 'governance.check', customer_id: 'acme', allowed: true, risk_score: 0.3, model: 'm1', operation: 'embed' },
      { kind: 'governance.check', customer_id: 'globex', allowed: true, risk_score: 0.1, model: 'm2', operation: 'chat' },
    ];
    const ingest = await cli(['ingest', '-'], rows.map((r) => JSON.stringify(r)).join('\n'));
    assert.equal(ingest.code, 0, ingest.stderr);
  });
  after(async () => {
    await daemon?.stop();
    await home?.dispose();
  });

  test('--by customer --json answers usage and blocked requests per customer', async () => {
    const result = await cli(['stats', '--by', 'customer', '--json']);
    assert.equal(result.code, 0, result.stderr);
    const stats = JSON.parse(result.stdout) as Stats;
    assert.deepEqual(stats.groups?.map((g) => [g.key, g.total, g.blocked]), [['acme', 2, 1], ['globex', 1, 0]]);
  });

  test('filters narrow the aggregates; the table shows mean risk by model and operation', async () => {
    const result = await cli(['stats', '--model', 'm1']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^2 entries/);
    assert.match(result.stdout, /m1 +chat +0\.900 +1/);
    assert.match(result.stdout, /m1 +embed +0\.300 +1/);
    assert.doesNotMatch(result.stdout, /m2/);
  });

  test('a bad --by is a usage error', async () => {
    const result = await cli(['stats', '--by', 'planet']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /--by is one of day, model, operation, category, customer, user/);
  });
});
