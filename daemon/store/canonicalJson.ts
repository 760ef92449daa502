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
      return jsonString(value);
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

/**
 * `"key":` and `,"key":` of object keys, cached: entries repeat the same few dozen keys millions of times,
 * and appending the member's name in one piece makes one string (a rope node) per member fewer.
 */
const names = new Map<string, string>();
const laterNames = new Map<string, string>();
export function memberName(key: string, first: boolean): string {
  const cache = first ? names : laterNames;
  let name = cache.get(key);
  if (name === undefined) {
    name = (first ? '' : ',') + JSON.stringify(key) + ':';
    if (cache.size < 10_000) cache.set(key, name);
  }
  return name;
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
    out += memberName(key, out.length === 1);
    out += canonicalJson(item);
  }
  return out + '}';
}

/**
 * `JSON.stringify(text)`, for short strings without a call to the serializer when nothing in them needs
 * escaping (ids, names, times, hashes: most strings of an entry), which a loop finds in about half the time.
 */
export function jsonString(text: string): string {
  if (text.length > 128) return JSON.stringify(text);
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x22 || code === 0x5c || code > 0x7e) return JSON.stringify(text);
  }
  return '"' + text + '"';
}
