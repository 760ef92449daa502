/**
 * Canonical JSON: object keys sorted by UTF-16 code units, no white space, numbers and strings as
 * `JSON.stringify` writes them (which is what RFC 8785 prescribes for the values we store). The hash
 * chain is computed over these bytes, so any reader in any language can recompute it.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    // undefined never reaches here from validated entries; map it to null like JSON.stringify in arrays.
    return JSON.stringify(value) ?? 'null';
  }
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ',';
      out += canonicalJson(value[i]);
    }
    return out + ']';
  }
  return '{' + canonicalMembers(value as Record<string, unknown>).join(',') + '}';
}

/** Quoted object keys, cached: entries repeat the same few dozen keys millions of times. */
const quotedKeys = new Map<string, string>();
function quoteKey(key: string): string {
  let quoted = quotedKeys.get(key);
  if (quoted === undefined) {
    quoted = JSON.stringify(key);
    if (quotedKeys.size < 10_000) quotedKeys.set(key, quoted);
  }
  return quoted;
}

/** `"key":value` members of an object in canonical order (undefined values left out). */
export function canonicalMembers(record: Record<string, unknown>): string[] {
  const keys = Object.keys(record).sort();
  const members: string[] = [];
  for (const key of keys) {
    const item = record[key];
    if (item === undefined) continue;
    members.push(quoteKey(key) + ':' + canonicalJson(item));
  }
  return members;
}
