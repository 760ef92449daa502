import { Limits } from './entry.ts';

/**
 * Shape limits of one JSON value, checked before schema validation. A schema library walks nested values
 * recursively: 3,000 levels of `metadata` overflowed the stack inside zod, and zod's recursion memo
 * (a module-level stack) kept every half-parsed value of each overflowed parse (~130 KB per frame).
 * This walk is iterative, touches each node once and stops at the first problem.
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

interface Visit {
  value: unknown;
  depth: number;
  parent: Visit | null;
  key: string | number;
}

/** The dotted path of a visited node, built only when a problem is reported. */
function pathOf(visit: Visit, key?: string): string {
  const parts: string[] = key === undefined ? [] : [key];
  for (let at: Visit | null = visit; at !== null && at.parent !== null; at = at.parent) parts.push(String(at.key));
  return parts.reverse().join('.');
}

/** Checks a parsed JSON value against {@link JsonBounds}; null when it keeps them all. */
export function jsonBoundsProblem(value: unknown, bounds: JsonBounds): JsonBoundsProblem | null {
  const stack: Visit[] = [{ value, depth: 0, parent: null, key: '' }];
  for (let visit = stack.pop(); visit !== undefined; visit = stack.pop()) {
    const node = visit.value;
    if (typeof node === 'string') {
      if (node.length > bounds.maxStringLength) return { path: pathOf(visit), message: `a string longer than ${bounds.maxStringLength} characters` };
      continue;
    }
    if (typeof node !== 'object' || node === null) continue;
    const depth = visit.depth + 1;
    if (depth > bounds.maxDepth) return { path: pathOf(visit), message: `nested deeper than ${bounds.maxDepth} levels` };
    if (Array.isArray(node)) {
      if (node.length > bounds.maxItems) return { path: pathOf(visit), message: `an array of more than ${bounds.maxItems} items` };
      for (let i = 0; i < node.length; i++) stack.push({ value: node[i] as unknown, depth, parent: visit, key: i });
      continue;
    }
    const keys = Object.keys(node);
    if (keys.length > bounds.maxKeys) return { path: pathOf(visit), message: `an object with more than ${bounds.maxKeys} keys` };
    for (const key of keys) {
      if (key.length > bounds.maxKeyLength) return { path: pathOf(visit), message: `a key longer than ${bounds.maxKeyLength} characters` };
      if (FORBIDDEN_KEYS.has(key)) return { path: pathOf(visit, key), message: `the key ${key} is not accepted` };
      stack.push({ value: (node as Record<string, unknown>)[key], depth, parent: visit, key });
    }
  }
  return null;
}
