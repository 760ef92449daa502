import { z } from 'zod';
import type { ScanError, ScanVerdict } from './scanner.ts';

/** What to do with a message when a category is detected. `log` lets it through and only records it. */
export type PolicyAction = 'block' | 'warn' | 'log';

/**
 * Action per detected category. A key matches a category exactly or as its family: `pii` matches
 * `pii/email`, `moderated_content` matches `moderated_content/hate`; the most specific key wins.
 */
export interface ScanPolicy {
  categories: Record<string, PolicyAction>;
  /** Action for detected categories that no key matches. */
  defaultAction: PolicyAction;
  /** `closed`: a scanner error blocks the message; `open`: it goes through, recorded as an error. */
  failMode: 'closed' | 'open';
}

export type PolicyDecision = 'allowed' | 'blocked' | 'warned' | 'error';

export interface PolicyOutcome {
  decision: PolicyDecision;
  /** A sentence for the user and the audit entry's `reason`. */
  reason: string;
  /** The categories whose action decided the outcome (block ones when blocked, warn ones when warned). */
  blockingCategories: string[];
}

/**
 * Attacks on the model are blocked; data that may be sensitive (PII, links) is flagged but let through.
 * Scanner failures block (fail closed), as the mainstream gateways do by default (LiteLLM, APISIX).
 */
export const DEFAULT_POLICY: ScanPolicy = Object.freeze({
  categories: Object.freeze({
    prompt_attack: 'block',
    instruction_override: 'block',
    jailbreak: 'block',
    system_prompt_extraction: 'block',
    obfuscation: 'block',
    pii: 'warn',
    moderated_content: 'block',
    unknown_links: 'warn',
  }) as Record<string, PolicyAction>,
  defaultAction: 'warn',
  failMode: 'closed',
}) as ScanPolicy;

const Action = z.enum(['block', 'warn', 'log']);

/** Category names as Lakera (`pii/email`) and the heuristic (`jailbreak`) spell them. */
const CATEGORY_KEY_MESSAGE = 'must be a category name such as "pii" or "pii/email"';
const CategoryKey = z
  .string()
  .max(128)
  .regex(/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/, CATEGORY_KEY_MESSAGE);

/** Validates the user's settings; errors name the path, e.g. `categories.pii: Invalid option …`. */
export const ScanPolicySettings = z.strictObject({
  // zod reports a bad record key as "Invalid key in record"; say what a key must look like instead.
  categories: z.record(CategoryKey, Action, { error: (issue) => (issue.code === 'invalid_key' ? `category ${CATEGORY_KEY_MESSAGE}` : undefined) }).default({}),
  defaultAction: Action.default('warn'),
  failMode: z.enum(['closed', 'open']).default('closed'),
});
export type ScanPolicySettings = z.infer<typeof ScanPolicySettings>;

/**
 * A verdict flagged with no detected category (Lakera without a breakdown, or a policy whose detector
 * is not in the breakdown) is judged under this name, so that it can be given its own action.
 */
export const UNCLASSIFIED_CATEGORY = 'unclassified';

/** The action for one category: exact key first, then the longest family prefix, then the default. */
export function actionFor(category: string, policy: ScanPolicy): PolicyAction {
  const exact = Object.hasOwn(policy.categories, category) ? policy.categories[category] : undefined;
  if (exact !== undefined) return exact;
  let best: { length: number; action: PolicyAction } | undefined;
  for (const [key, action] of Object.entries(policy.categories)) {
    if (category.startsWith(`${key}/`) && (best === undefined || key.length > best.length)) best = { length: key.length, action };
  }
  return best?.action ?? policy.defaultAction;
}

function isVerdict(outcome: ScanVerdict | ScanError): outcome is ScanVerdict {
  return 'flagged' in outcome;
}

/** Detected categories of one verdict; a flagged verdict always yields at least one. */
function detectedCategories(verdict: ScanVerdict): string[] {
  const detected = Object.entries(verdict.categories)
    .filter(([, on]) => on)
    .map(([name]) => name);
  if (verdict.flagged && detected.length === 0) return [UNCLASSIFIED_CATEGORY];
  return detected;
}

function list(names: readonly string[]): string {
  return names.join(', ');
}

/**
 * Decides what happens to one message from the outcomes of every scanner that looked at it (the primary
 * scanner and, optionally, the heuristic as a second opinion). The strictest action over all detected
 * categories wins. A scanner error is never read as "not flagged": it blocks when failing closed, and
 * makes the decision `error` when failing open (unless a category blocks anyway). No outcome at all is
 * an error too, since nothing was scanned.
 */
export function decide(outcomes: ReadonlyArray<ScanVerdict | ScanError>, policy: ScanPolicy): PolicyOutcome {
  const errors = outcomes.filter((o): o is ScanError => !isVerdict(o));
  const byAction: Record<PolicyAction, Set<string>> = { block: new Set(), warn: new Set(), log: new Set() };
  for (const verdict of outcomes.filter(isVerdict)) {
    for (const category of detectedCategories(verdict)) byAction[actionFor(category, policy)].add(category);
  }
  const blocked = [...byAction.block];
  const warned = [...byAction.warn];
  const logged = [...byAction.log];
  const failures = errors.map((e) => `${e.scanner} scanner failed (${e.code}): ${e.message}`);
  if (outcomes.length === 0) failures.push('no scanner ran');

  if (blocked.length > 0) {
    const also = failures.length > 0 ? `; also ${failures.join('; ')}` : '';
    return { decision: 'blocked', reason: `Blocked by policy: ${list(blocked)}${also}`, blockingCategories: blocked };
  }
  if (failures.length > 0) {
    const flaggedNote = warned.length > 0 ? ` Also flagged: ${list(warned)}.` : '';
    if (policy.failMode === 'closed') {
      return { decision: 'blocked', reason: `Blocked because the scan could not be completed (fail closed): ${failures.join('; ')}.${flaggedNote}`, blockingCategories: [] };
    }
    return { decision: 'error', reason: `Let through despite a scan failure (fail open): ${failures.join('; ')}.${flaggedNote}`, blockingCategories: warned };
  }
  if (warned.length > 0) return { decision: 'warned', reason: `Flagged: ${list(warned)}`, blockingCategories: warned };
  if (logged.length > 0) return { decision: 'allowed', reason: `Flagged, logged only: ${list(logged)}`, blockingCategories: [] };
  return { decision: 'allowed', reason: 'Nothing detected', blockingCategories: [] };
}
