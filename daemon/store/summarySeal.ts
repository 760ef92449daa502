import { createHmac, timingSafeEqual } from 'node:crypto';
import { canonicalJson } from './canonicalJson.ts';
import type { SegmentSummary } from './segmentSummary.ts';

/**
 * A segment summary as stored next to its closed segment: the summary plus an HMAC-SHA-256 under a key
 * derived from the store's HMAC key `key_id` (never the key itself). Summaries decide which segments a
 * query reads and stand in for whole segments in `stats`, so an unauthenticated one could change results.
 */
export interface SealedSummary extends SegmentSummary {
  key_id: string;
  mac: string;
}

/** The keys a summary can be sealed and checked with: the store's HMAC keys by id, and the active id. */
export interface SummaryKeys {
  activeId: string;
  keys: ReadonlyMap<string, Buffer>;
}

function summaryKey(hmacKey: Buffer): Buffer {
  // Domain separation: the content HMAC key itself never MACs anything but content.
  return createHmac('sha256', hmacKey).update('ai-audit-trail segment summary v1').digest();
}

function macOf(summary: SegmentSummary, keyId: string, hmacKey: Buffer): string {
  return createHmac('sha256', summaryKey(hmacKey)).update(canonicalJson({ ...summary, key_id: keyId })).digest('hex');
}

export function sealSummary(summary: SegmentSummary, keys: SummaryKeys): SealedSummary {
  const key = keys.keys.get(keys.activeId);
  if (key === undefined) throw new Error(`no HMAC key ${keys.activeId}`);
  return { ...summary, key_id: keys.activeId, mac: macOf(summary, keys.activeId, key) };
}

/**
 * A sidecar's text: the very bytes the MAC covers (the canonical JSON of the summary and its `key_id`), with
 * the MAC as a last member, so that opening it needs no re-serialization (issue 8: start-up reads every
 * sidecar). Any JSON of a {@link SealedSummary} opens too: sidecars written as `JSON.stringify` before.
 */
export function sealedSummaryText(summary: SegmentSummary, keys: SummaryKeys): string {
  const key = keys.keys.get(keys.activeId);
  if (key === undefined) throw new Error(`no HMAC key ${keys.activeId}`);
  const body = canonicalJson({ ...summary, key_id: keys.activeId });
  const mac = createHmac('sha256', summaryKey(key)).update(body).digest('hex');
  return `${body.slice(0, -1)},"mac":"${mac}"}`;
}

const MAC_LAST = /,"mac":"([0-9a-f]{64})"\}$/;

/** The summary of a text written by {@link sealedSummaryText} whose MAC authenticates its bytes, else null. */
function openByBytes(text: string, keys: ReadonlyMap<string, Buffer>): { summary: SegmentSummary } | null {
  const tail = MAC_LAST.exec(text.slice(-80));
  if (tail?.[1] === undefined) return null;
  const body = `${text.slice(0, text.length - tail[0].length)}}`;
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const { key_id, ...summary } = value as Record<string, unknown>;
  const key = typeof key_id === 'string' ? keys.get(key_id) : undefined;
  if (key === undefined) return null;
  const expected = createHmac('sha256', summaryKey(key)).update(body).digest();
  // The MAC covers exactly the bytes parsed: what it authenticates is what is returned.
  return timingSafeEqual(expected, Buffer.from(tail[1], 'hex')) ? { summary: summary as unknown as SegmentSummary } : null;
}

/** The summary inside a sidecar's text when its MAC authenticates under one of `keys`; else why not. */
export function openSealedSummary(text: string, keys: ReadonlyMap<string, Buffer>): { summary: SegmentSummary } | { problem: string } {
  const opened = openByBytes(text, keys);
  if (opened !== null) return opened;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { problem: 'is not JSON' };
  }
  if (typeof value !== 'object' || value === null) return { problem: 'is not a summary' };
  const { key_id, mac, ...summary } = value as Record<string, unknown>;
  if (typeof key_id !== 'string' || typeof mac !== 'string') return { problem: 'carries no MAC' };
  const key = keys.get(key_id);
  if (key === undefined) return { problem: `is sealed with unknown key ${key_id}` };
  const expected = Buffer.from(macOf(summary as unknown as SegmentSummary, key_id, key), 'hex');
  const given = Buffer.from(mac, 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { problem: 'does not match its MAC: it was edited' };
  return { summary: summary as unknown as SegmentSummary };
}
