/**
 * How a folder destination names files for object keys, the same on every OS: each character that Windows
 * does not allow in a file name (`< > : " | ? *`, control characters) and `%` itself are written as `%XX`
 * (uppercase hex of the UTF-8 byte); `/` stays the folder separator. Lakera's `…T10:15:03+00:00_…` becomes
 * `…T10%3A15%3A03+00%3A00_…` on disk, while the key (in manifests and object stores) keeps its `:`.
 * Reversible: `keyOfFileName` gives the key back, so `list` and verify-export see the keys the manifests name.
 */
const UNSAFE = new Set('<>:"|?*%');

const unsafe = (c: string): boolean => UNSAFE.has(c) || c.charCodeAt(0) < 0x20;

export function fileNameOfKey(key: string): string {
  let name = '';
  for (const c of key) name += unsafe(c) ? `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}` : c;
  return name;
}

/** The key of a file name; a `%` not followed by two hex digits (a file written before this mapping) stays. */
export function keyOfFileName(name: string): string {
  return name.replace(/%([0-9A-Fa-f]{2})/g, (_match, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}
