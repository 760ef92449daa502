/**
 * Canonical JSON: object keys sorted by UTF-16 code units, no white space, numbers and strings as
 * `JSON.stringify` writes them (which is what RFC 8785 prescribes for the values we store). The hash
 * chain is computed over these bytes, so any reader in any language can recompute it.
 */
export function canonicalJson(value: unknown): string {
  // Built by appending to one string per object, without member arrays: this runs for every entry on
  // ingest and on verify, and the arrays and joins were a large share of its garbage.
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      if (value === null) return 'null';
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) {
          if (i > 0) out += ',';
          out += canonicalJson(value[i]);
        }
        return out + ']';
      }
      return canonicalObject(value as Record<string, unknown>);
    default:
      // Numbers as JSON.stringify writes them (-0 as 0, non-finite as null); undefined never reaches here
      // from validated entries: map it to null like JSON.stringify in arrays.
      return JSON.stringify(value) ?? 'null';
  }
}

/** Quoted object keys, cached: entries repeat the same few dozen keys millions of times. */
const quotedKeys = new Map<string, string>();
export function quoteKey(key: string): string {
  let quoted = quotedKeys.get(key);
  if (quoted === undefined) {
    quoted = JSON.stringify(key);
    if (quotedKeys.size < 10_000) quotedKeys.set(key, quoted);
  }
  return quoted;
}

/** `{…}` of an object in canonical order, undefined values left out, and the member `skip` too. */
export function canonicalObject(record: Record<string, unknown>, skip?: string): string {
  const keys = Object.keys(record);
  if (keys.length > 1) keys.sort();
  let out = '{';
  for (const key of keys) {
    if (key === skip) continue;
    const item = record[key];
    if (item === undefined) continue;
    if (out.length > 1) out += ',';
    out += quoteKey(key) + ':' + canonicalJson(item);
  }
  return out + '}';
}
