import type { Entry } from '../../../daemon/protocol/entry.ts';

/** A stored entry with seq `seq` (the fields the viewer reads; hashes are placeholders). */
export function entry(seq: number, extra: Partial<Entry> = {}): Entry {
  return {
    v: 1,
    seq,
    id: `0190a8f0-0000-7000-8000-${String(seq).padStart(12, '0')}`,
    recorded_at: '2026-11-22T10:00:00.000Z',
    ts: '2026-11-22T10:00:00.000Z',
    kind: 'chat.input',
    decision: 'allowed',
    content: { mode: 'hash' },
    prev: '0'.repeat(64),
    hash: 'a'.repeat(64),
    ...extra,
  };
}

/** Entries `from` down to `to` (newest first), as the daemon pages them. */
export function descending(from: number, to: number): Entry[] {
  const out: Entry[] = [];
  for (let s = from; s >= to; s--) out.push(entry(s));
  return out;
}
