import { Limits } from './entry.ts';

/**
 * Shape limits of one JSON value, checked before schema validation. A schema library walks nested values
 * recursively: 3,000 levels of `metadata` overflowed the stack inside zod, and zod's recursion memo
 * (a module-level stack) kept every half-parsed value of each overflowed parse (~130 KB per frame).
 * This walk touches each node once, never goes deeper than `maxDepth` + 1 calls and stops at the first problem.
 */
export interface JsonBounds {
  /** Most levels of objects and arrays (the value itself is level 1; scalars add none). */
  maxDepth: number;
  /** Most keys of one object. */
  maxKeys: number;
  /** Most items of one array. */
  maxItems: number;
  /** Most characters of one object key. */
  maxKeyLength: number;
  /** Most characters of one string value. */
  maxStringLength: number;
}

/** Bounds of one ingest event: generous for any event the schema accepts, far below what hurts. */
export const EVENT_BOUNDS: JsonBounds = {
  maxDepth: 32,
  maxKeys: Limits.mapKeys,
  maxItems: Limits.listItems,
  maxKeyLength: Limits.shortString,
  maxStringLength: Limits.content,
};

/** The first bound a value breaks: the dotted path to it and why. */
export interface JsonBoundsProblem {
  path: string;
  message: string;
}

/**
 * Keys that JavaScript objects cannot hold as plain data: `JSON.parse` makes `__proto__` an own key, but
 * any later copy by assignment turns it into the prototype, so the key would be lost silently. Refused.
 */
const FORBIDDEN_KEYS = new Set(['__proto__']);

/** Checks a parsed JSON value against {@link JsonBounds}; null when it keeps them all. */
export function jsonBoundsProblem(value: unknown, bounds: JsonBounds): JsonBoundsProblem | null {
  return check(value, 0, bounds);
}

/**
 * Depth-first, children last to first, each object's own bounds before its children: the order in which
 * the first problem is found. Recursion, without an object per node: it runs for every event, and nesting
 * stops at `maxDepth` (32) levels, so the stack stays shallow. The path is built only for a problem.
 */
function check(node: unknown, parentDepth: number, bounds: JsonBounds): JsonBoundsProblem | null {
  if (typeof node === 'string') {
    return node.length > bounds.maxStringLength ? { path: '', message: `a string longer than ${bounds.maxStringLength} characters` } : null;
  }
  if (typeof node !== 'object' || node === null) return null;
  const depth = parentDepth + 1;
  if (depth > bounds.maxDepth) return { path: '', message: `nested deeper than ${bounds.maxDepth} levels` };
  if (Array.isArray(node)) {
    if (node.length > bounds.maxItems) return { path: '', message: `an array of more than ${bounds.maxItems} items` };
    for (let i = node.length - 1; i >= 0; i--) {
      const problem = check(node[i], depth, bounds);
      if (problem !== null) return under(String(i), problem);
    }
    return null;
  }
  const keys = Object.keys(node);
  if (keys.length > bounds.maxKeys) return { path: '', message: `an object with more than ${bounds.maxKeys} keys` };
  for (const key of keys) {
    if (key.length > bounds.maxKeyLength) return { path: '', message: `a key longer than ${bounds.maxKeyLength} characters` };
    if (FORBIDDEN_KEYS.has(key)) return { path: key, message: `the key ${key} is not accepted` };
  }
  for (let i = keys.length - 1; i >= 0; i--) {
    const key = keys[i] as string;
    const problem = check((node as Record<string, unknown>)[key], depth, bounds);
    if (problem !== null) return under(key, problem);
  }
  return null;
}

/** A child's problem as seen from its parent: the child's key in front of its path. */
function under(key: string, problem: JsonBoundsProblem): JsonBoundsProblem {
  problem.path = problem.path === '' ? key : `${key}.${problem.path}`;
  return problem;
}
