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
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record).sort();
  let out = '{';
  let first = true;
  for (const key of keys) {
    const item = record[key];
    if (item === undefined) continue;
    if (!first) out += ',';
    first = false;
    out += JSON.stringify(key) + ':' + canonicalJson(item);
  }
  return out + '}';
}
