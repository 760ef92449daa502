import { hash } from 'node:crypto';
import type { Entry } from '../../daemon/protocol/entry.ts';
import { canonicalJson } from '../../daemon/store/canonicalJson.ts';

/**
 * An entry sealed as docs/entry.md defines it, written plainly: `hash` is the SHA-256 of the canonical JSON of
 * the entry without `hash`, the stored line the canonical JSON of the whole entry and a newline. The daemon
 * builds lines in one pass (daemon/store/entryBuilder.ts); tests compare that against this reference, which
 * shares only canonicalJson with it.
 */
export function sealEntry(unsealed: Omit<Entry, 'hash'>): { entry: Entry; line: string } {
  const { hash: _ignored, ...rest } = unsealed as Omit<Entry, 'hash'> & { hash?: unknown };
  const entry = { ...rest, hash: hash('sha256', canonicalJson(rest), 'hex') } as Entry;
  return { entry, line: canonicalJson(entry) + '\n' };
}
