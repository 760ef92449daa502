import { z } from 'zod';
import { Entry } from '../../daemon/protocol/entry.ts';
import { EntryFilter, ReviewVerdict } from '../../daemon/protocol/messages.ts';
import { EntryRow } from './entryRow.ts';

/**
 * Messages between the audit log webview and the extension, in both directions. Both sides import this
 * module and validate every message they receive before dispatch. Pages and tail entries cross as table
 * rows (./entryRow.ts: the shown columns, strings cut), the opened entry as the daemon's own `Entry`
 * schema: the webview checks them again, since their strings are attacker-controlled.
 */

/** Most entries in one page the webview asks for. */
export const MAX_VIEW_PAGE = 500;

const requestId = z.number().int().nonnegative();
const seq = z.number().int().positive();

export const CheckpointRef = z.strictObject({ seq, hash: z.string().max(128), ts: z.string().max(64), key_id: z.string().max(512) });

export const VerifyOutcome = z.strictObject({
  ok: z.boolean(),
  entriesChecked: z.number().int().nonnegative(),
  lastSeq: z.number().int().nullable(),
  unsignedTail: z.number().int().nonnegative(),
  /** The first broken seq (null when the problem is not tied to one entry). */
  brokenSeq: z.number().int().nullable(),
  problem: z.string().max(4096).nullable(),
});
export type VerifyOutcome = z.infer<typeof VerifyOutcome>;

export const DayCounts = z.strictObject({
  day: z.string().max(32),
  allowed: z.number().int().nonnegative(),
  blocked: z.number().int().nonnegative(),
  warned: z.number().int().nonnegative(),
  error: z.number().int().nonnegative(),
});
export const StatsView = z.strictObject({
  total: z.number().int().nonnegative(),
  per_day: z.array(DayCounts).max(40_000),
  top_categories: z.array(z.strictObject({ category: z.string().max(512), count: z.number().int().nonnegative() })).max(100),
  risk_by_model: z.array(z.strictObject({ model: z.string().max(512), operation: z.string().max(512), mean_risk: z.number(), count: z.number().int().nonnegative() })).max(10_000),
});
export type StatsView = z.infer<typeof StatsView>;

/** Webview → extension. */
export const FromAuditLog = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('ready') }),
  /** A page of the filter's entries, newest first; `cursor` from the previous page (null: the newest). */
  z.strictObject({ type: z.literal('query'), requestId, filter: EntryFilter, cursor: z.string().max(512).nullable(), limit: z.number().int().min(1).max(MAX_VIEW_PAGE) }),
  z.strictObject({ type: z.literal('stats'), requestId, filter: EntryFilter }),
  /** The user applied a filter set (recorded as access). */
  z.strictObject({ type: z.literal('filterApplied'), filter: EntryFilter }),
  z.strictObject({ type: z.literal('detail'), seq }),
  z.strictObject({ type: z.literal('decrypt'), seq }),
  z.strictObject({ type: z.literal('review'), seq }),
  z.strictObject({ type: z.literal('tail'), on: z.boolean(), filter: EntryFilter }),
  z.strictObject({ type: z.literal('verify') }),
  z.strictObject({ type: z.literal('export'), filter: EntryFilter }),
  z.strictObject({ type: z.literal('copy'), text: z.string().max(1_000_000) }),
]);
export type FromAuditLog = z.infer<typeof FromAuditLog>;

/** Extension → webview. */
export const ToAuditLog = z.discriminatedUnion('type', [
  /** Sent after `ready`: the filter to show (restored state wins) and an entry to jump to. */
  z.strictObject({ type: z.literal('init'), filter: EntryFilter.nullable(), reveal: seq.nullable() }),
  z.strictObject({ type: z.literal('reveal'), seq }),
  z.strictObject({ type: z.literal('page'), requestId, rows: z.array(EntryRow).max(MAX_VIEW_PAGE), nextCursor: z.string().max(512).nullable() }),
  z.strictObject({ type: z.literal('pageFailed'), requestId, message: z.string().max(4096) }),
  z.strictObject({ type: z.literal('stats'), requestId, stats: StatsView }),
  z.strictObject({ type: z.literal('detail'), entry: Entry, checkpoint: CheckpointRef.nullable(), reviews: z.array(Entry).max(5000) }),
  z.strictObject({ type: z.literal('decrypted'), seq, auditSeq: seq, input: z.string().max(9_000_000).nullable(), output: z.string().max(9_000_000).nullable() }),
  z.strictObject({ type: z.literal('tailEntries'), rows: z.array(EntryRow).max(10_000) }),
  z.strictObject({ type: z.literal('verifyProgress'), entriesChecked: z.number().int().nonnegative(), lastSeq: z.number().int().nonnegative() }),
  z.strictObject({ type: z.literal('verifyResult'), outcome: VerifyOutcome }),
  z.strictObject({ type: z.literal('exportProgress'), text: z.string().max(4096) }),
  z.strictObject({ type: z.literal('exportResult'), ok: z.boolean(), text: z.string().max(4096), objects: z.array(z.string().max(4096)).max(10_000) }),
  z.strictObject({ type: z.literal('connection'), connected: z.boolean(), text: z.string().max(4096) }),
  z.strictObject({ type: z.literal('notice'), level: z.enum(['info', 'warning', 'error']), text: z.string().max(4096) }),
]);
export type ToAuditLog = z.infer<typeof ToAuditLog>;

/** What the webview keeps in its VS Code state (survives a reload through the panel serializer). */
export const AuditLogViewState = z.strictObject({
  filter: EntryFilter,
  preset: z.string().max(32),
  tail: z.boolean(),
  columns: z.record(z.string().max(32), z.number().min(24).max(2000)).optional(),
  tab: z.enum(['table', 'charts']).optional(),
});
export type AuditLogViewState = z.infer<typeof AuditLogViewState>;

export { ReviewVerdict };
