import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEFAULT_POLICY, ScanPolicySettings, UNCLASSIFIED_CATEGORY, actionFor, decide, type ScanPolicy } from '../../../extension/scanning/scanPolicy.ts';
import { ScanError, type ScanVerdict } from '../../../extension/scanning/scanner.ts';

function verdict(detected: string[], extra: Partial<ScanVerdict> = {}): ScanVerdict {
  return {
    scanner: 'lakera',
    flagged: detected.length > 0,
    categories: Object.fromEntries([...detected.map((c) => [c, true]), ['prompt_attack', detected.includes('prompt_attack')]]),
    scores: {},
    detectors_triggered: [],
    detected_patterns: [],
    threat_level: detected.length > 0 ? 'medium' : 'none',
    latency_ms: 12,
    ...extra,
  };
}

const error = (code: string, scanner: 'lakera' | 'heuristic' = 'lakera'): ScanError =>
  new ScanError(scanner, code, `Lakera Guard failed (${code})`, { latencyMs: 5 });

const policy = (categories: ScanPolicy['categories'], rest: Partial<ScanPolicy> = {}): ScanPolicy => ({
  categories,
  defaultAction: 'warn',
  failMode: 'closed',
  ...rest,
});

describe('decide: actions', () => {
  test('nothing detected → allowed', () => {
    const outcome = decide([verdict([])], DEFAULT_POLICY);
    assert.deepEqual(outcome, { decision: 'allowed', reason: 'Nothing detected', blockingCategories: [] });
  });

  test('block → blocked, naming the categories', () => {
    const outcome = decide([verdict(['prompt_attack'])], DEFAULT_POLICY);
    assert.equal(outcome.decision, 'blocked');
    assert.deepEqual(outcome.blockingCategories, ['prompt_attack']);
    assert.match(outcome.reason, /prompt_attack/);
  });

  test('warn → warned', () => {
    const outcome = decide([verdict(['pii/email'])], DEFAULT_POLICY);
    assert.equal(outcome.decision, 'warned');
    assert.deepEqual(outcome.blockingCategories, ['pii/email']);
  });

  test('log → allowed (recorded, not shown as a warning)', () => {
    const outcome = decide([verdict(['pii/email'])], policy({ pii: 'log' }));
    assert.equal(outcome.decision, 'allowed');
    assert.match(outcome.reason, /logged only: pii\/email/);
    assert.deepEqual(outcome.blockingCategories, []);
  });

  test('categories that no key matches use defaultAction', () => {
    assert.equal(decide([verdict(['brand_new/thing'])], policy({}, { defaultAction: 'block' })).decision, 'blocked');
    assert.equal(decide([verdict(['brand_new/thing'])], policy({}, { defaultAction: 'log' })).decision, 'allowed');
    assert.equal(decide([verdict(['brand_new/thing'])], DEFAULT_POLICY).decision, 'warned');
  });

  test('a flagged verdict without a named category is judged as "unclassified", never as clean', () => {
    const flaggedBare = verdict([], { flagged: true, categories: {} });
    assert.equal(decide([flaggedBare], DEFAULT_POLICY).decision, 'warned');
    assert.equal(decide([flaggedBare], policy({ [UNCLASSIFIED_CATEGORY]: 'block' })).decision, 'blocked');
  });
});

describe('decide: category families', () => {
  test('a key matches its family by prefix', () => {
    const p = policy({ pii: 'block', moderated_content: 'log' });
    assert.equal(actionFor('pii/email', p), 'block');
    assert.equal(actionFor('pii', p), 'block');
    assert.equal(actionFor('moderated_content/hate', p), 'log');
    // A prefix counts only at a `/` boundary.
    assert.equal(actionFor('piix/email', p), 'warn');
    assert.equal(actionFor('pii_extra', p), 'warn');
  });

  test('the most specific key wins', () => {
    const p = policy({ pii: 'warn', 'pii/credit_card': 'block', moderated_content: 'block', 'moderated_content/profanity': 'log' });
    assert.equal(actionFor('pii/credit_card', p), 'block');
    assert.equal(actionFor('pii/email', p), 'warn');
    assert.equal(actionFor('moderated_content/profanity', p), 'log');
    assert.equal(actionFor('moderated_content/hate', p), 'block');
  });

  test('the default policy blocks moderated content and attacks, warns on PII and links', () => {
    assert.equal(actionFor('moderated_content/hate', DEFAULT_POLICY), 'block');
    assert.equal(actionFor('pii/us_social_security_number', DEFAULT_POLICY), 'warn');
    assert.equal(actionFor('unknown_links', DEFAULT_POLICY), 'warn');
    for (const c of ['prompt_attack', 'instruction_override', 'jailbreak', 'system_prompt_extraction', 'obfuscation']) {
      assert.equal(actionFor(c, DEFAULT_POLICY), 'block', c);
    }
    assert.equal(DEFAULT_POLICY.failMode, 'closed');
  });

  test('keys that only look like prototypes are plain keys', () => {
    assert.equal(actionFor('toString', DEFAULT_POLICY), 'warn');
    assert.equal(actionFor('constructor/x', DEFAULT_POLICY), 'warn');
  });
});

describe('decide: the strictest action wins', () => {
  test('within one verdict', () => {
    const outcome = decide([verdict(['pii/email', 'prompt_attack', 'unknown_links'])], DEFAULT_POLICY);
    assert.equal(outcome.decision, 'blocked');
    assert.deepEqual(outcome.blockingCategories, ['prompt_attack']);
  });

  test('across scanners: a heuristic second opinion can block what Lakera only warns about', () => {
    const lakera = verdict(['pii/email']);
    const heuristic = verdict(['jailbreak'], { scanner: 'heuristic', scores: { jailbreak: 0.9 } });
    assert.equal(decide([lakera, heuristic], DEFAULT_POLICY).decision, 'blocked');
    assert.equal(decide([lakera, verdict([], { scanner: 'heuristic' })], DEFAULT_POLICY).decision, 'warned');
  });

  test('warn beats log', () => {
    const outcome = decide([verdict(['pii/email', 'moderated_content/profanity'])], policy({ pii: 'warn', moderated_content: 'log' }));
    assert.equal(outcome.decision, 'warned');
    assert.deepEqual(outcome.blockingCategories, ['pii/email']);
  });
});

describe('decide: scanner failures', () => {
  test('fail closed: an error blocks, and the reason says the scanner failed and why', () => {
    const outcome = decide([error('timeout')], DEFAULT_POLICY);
    assert.equal(outcome.decision, 'blocked');
    assert.match(outcome.reason, /lakera scanner failed \(timeout\)/);
    assert.match(outcome.reason, /fail closed/);
    assert.deepEqual(outcome.blockingCategories, []);
  });

  test('fail closed: a clean second opinion does not hide the error', () => {
    const outcome = decide([error('http_5xx'), verdict([], { scanner: 'heuristic' })], DEFAULT_POLICY);
    assert.equal(outcome.decision, 'blocked');
    assert.match(outcome.reason, /http_5xx/);
  });

  test('fail open: the message goes through as an error, never as allowed', () => {
    const open = { ...DEFAULT_POLICY, failMode: 'open' as const };
    const outcome = decide([error('http_429'), verdict([], { scanner: 'heuristic' })], open);
    assert.equal(outcome.decision, 'error');
    assert.match(outcome.reason, /http_429/);
    assert.match(outcome.reason, /fail open/);
  });

  test('fail open: a warning from the other scanner does not turn the error into a warning', () => {
    const open = { ...DEFAULT_POLICY, failMode: 'open' as const };
    const outcome = decide([error('network'), verdict(['pii/email'], { scanner: 'heuristic' })], open);
    assert.equal(outcome.decision, 'error');
    assert.match(outcome.reason, /pii\/email/);
  });

  test('fail open: a block from the other scanner still blocks', () => {
    const open = { ...DEFAULT_POLICY, failMode: 'open' as const };
    const outcome = decide([error('network'), verdict(['jailbreak'], { scanner: 'heuristic' })], open);
    assert.equal(outcome.decision, 'blocked');
    assert.deepEqual(outcome.blockingCategories, ['jailbreak']);
    assert.match(outcome.reason, /network/);
  });

  test('no outcome at all is a failure, not a clean scan', () => {
    assert.equal(decide([], DEFAULT_POLICY).decision, 'blocked');
    assert.equal(decide([], { ...DEFAULT_POLICY, failMode: 'open' }).decision, 'error');
  });

  test('an error is never "allowed", whatever the policy', () => {
    for (const failMode of ['closed', 'open'] as const) {
      for (const defaultAction of ['block', 'warn', 'log'] as const) {
        const p = policy({ pii: 'log' }, { failMode, defaultAction });
        for (const outcomes of [[error('timeout')], [error('bad_response'), verdict([])], [error('aborted'), verdict(['pii/email'])]]) {
          assert.notEqual(decide(outcomes, p).decision, 'allowed', `${failMode}/${defaultAction}`);
        }
      }
    }
  });
});

describe('ScanPolicySettings', () => {
  test('accepts what the settings UI produces and fills defaults', () => {
    assert.deepEqual(ScanPolicySettings.parse({ categories: { pii: 'log', 'moderated_content/profanity': 'warn' }, defaultAction: 'block', failMode: 'open' }), {
      categories: { pii: 'log', 'moderated_content/profanity': 'warn' },
      defaultAction: 'block',
      failMode: 'open',
    });
    assert.deepEqual(ScanPolicySettings.parse({}), { categories: {}, defaultAction: 'warn', failMode: 'closed' });
  });

  test('the default policy is valid settings', () => {
    assert.deepEqual(ScanPolicySettings.parse(DEFAULT_POLICY), DEFAULT_POLICY);
  });

  test('a bad action names its path', () => {
    const result = ScanPolicySettings.safeParse({ categories: { pii: 'blok' } });
    assert.equal(result.success, false);
    assert.deepEqual(result.error?.issues[0]?.path, ['categories', 'pii']);
  });

  test('a bad failMode, defaultAction or category name names its path', () => {
    const paths = (input: unknown) => ScanPolicySettings.safeParse(input).error?.issues.map((i) => i.path.join('.')) ?? [];
    assert.deepEqual(paths({ failMode: 'sometimes' }), ['failMode']);
    assert.deepEqual(paths({ defaultAction: 'allow' }), ['defaultAction']);
    assert.deepEqual(paths({ categories: { 'pii/': 'warn' } }), ['categories.pii/']);
    assert.match(ScanPolicySettings.safeParse({ categories: { 'pii/': 'warn' } }).error?.issues[0]?.message ?? '', /category name/);
    assert.deepEqual(paths({ categories: [] }), ['categories']);
    assert.deepEqual(paths({ categories: {}, extra: true }), ['']);
  });
});
