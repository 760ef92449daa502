import { z } from 'zod';
import type { Entry} from './entry.ts';
import { ContentMode, Decision, EntryKind, IngestEvent, ThreatLevel } from './entry.ts';
import type { WireError } from './errors.ts';
import { DestinationConfig, DestinationSecretKind, NamedDestination, type DestinationProbe } from './destinations.ts';
import { ExportName, ExportShape, ScheduleShape, ScheduleTiming, type ExportRun, type Schedule } from './exports.ts';

/**
 * The daemon's WebSocket protocol, version 1 (URL path `/v1`). Every frame is one JSON object:
 *
 * - request (client → daemon): `{ id, method, params }`
 * - response (daemon → client): `{ id, result }` or `{ id, error: { code, message, data? } }`
 * - notification (daemon → client): `{ method, params }` (tail entries, progress)
 *
 * Each method is declared once below with its params schema (checked at runtime on the daemon) and its
 * result type (checked by the compiler on both sides). docs/protocol.md has an example of every message.
 */
export const PROTOCOL_VERSION = 1;
export const PROTOCOL_PATH = `/v${PROTOCOL_VERSION}`;

/** Largest frame the daemon accepts, in bytes; larger ones close the connection with 1009. */
export const MAX_FRAME_BYTES = 16 * 1024 * 1024;
/** Most events in one ingest request. */
export const MAX_BATCH_EVENTS = 10_000;
/** Largest page a query returns. */
export const MAX_PAGE = 1000;

const isoTime = z.iso.datetime({ offset: true });
const oneOrMany = <T extends z.ZodType>(item: T) => z.union([item, z.array(item).min(1).max(32)]);

export const EntryFilter = z.strictObject({
  /** Inclusive lower bound on `ts`. */
  since: isoTime.optional(),
  /** Exclusive upper bound on `ts`. */
  until: isoTime.optional(),
  kind: oneOrMany(EntryKind).optional(),
  decision: oneOrMany(Decision).optional(),
  provider: z.string().max(512).optional(),
  model: z.string().max(512).optional(),
  user: z.string().max(512).optional(),
  session: z.string().max(512).optional(),
  project: z.string().max(512).optional(),
  customer: z.string().max(512).optional(),
  conversation: z.string().max(512).optional(),
  /** `mcp.server` of MCP calls. */
  mcp_server: z.string().max(512).optional(),
  flagged: z.boolean().optional(),
  threat_level: oneOrMany(ThreatLevel).optional(),
  /** Case-insensitive substring of reason, block_reason, alerts, metadata, detected patterns: never content. */
  text: z.string().min(1).max(512).optional(),
});
export type EntryFilter = z.infer<typeof EntryFilter>;

export interface IngestAck {
  seq: number;
  id: string;
  /** True when the idempotency key was seen before: this is the original ack, nothing new was stored. */
  duplicate?: true;
}
export interface IngestRejected {
  error: WireError;
}

export interface DayCounts {
  day: string;
  allowed: number;
  blocked: number;
  warned: number;
  error: number;
}

export interface VerifyProblem {
  seq: number | null;
  segment: string | null;
  code:
    | 'hash_mismatch'
    | 'prev_mismatch'
    | 'seq_gap'
    | 'seq_order'
    | 'unparseable'
    | 'missing_start'
    | 'checkpoint_mismatch'
    | 'checkpoint_signature'
    | 'checkpoint_beyond_end'
    | 'torn_tail'
    | 'checkpoint_chain'
    | 'checkpoint_missing'
    | 'summary_mismatch'
    | 'expected_missing';
  reason: string;
}

export interface VerifyReport {
  ok: boolean;
  entries_checked: number;
  segments_checked: number;
  checkpoints_checked: number;
  first_seq: number | null;
  last_seq: number | null;
  last_hash: string | null;
  /**
   * Entries after the newest signed checkpoint. Rewriting or truncating only these is not detectable
   * from this machine's files alone: checkpoints are written every minute, at stop, and into exports.
   */
  unsigned_tail: number;
  problem: VerifyProblem | null;
}

export interface KeyStatus {
  /** Where the keys live: the OS keychain, or derived from `AI_AUDIT_MASTER_KEY`. */
  source: 'keychain' | 'master-key';
  hmac_key_id: string;
  encryption_key_id: string;
  encryption_key_ids: string[];
  signing_key_id: string;
  /** Ed25519 public key of the checkpoints, SPKI PEM: hand it to whoever verifies exports. */
  signing_public_key: string;
  /** Every signing key's public key by id (old checkpoints are signed by old keys), SPKI PEM. */
  signing_public_keys: Record<string, string>;
}

/** Days entries are kept; the same bound for `settings.set` and for the daemon's state.json. */
export const RetentionDays = z.number().int().min(1).max(36_500);

/** The daemon's settings, as `settings.get` returns them and state.json keeps them. */
export const Settings = z.strictObject({ content_mode: ContentMode, retention_days: RetentionDays });
export type Settings = z.infer<typeof Settings>;

/** Flow control over the open connections (docs/protocol.md, section 1.5). */
export interface FlowHealth {
  connections: number;
  /** Connections whose frames are not being read: they have the most requests running or responses unread. */
  reading_paused: number;
  /** Requests being handled, this `health` included. */
  requests_running: number;
  /** Characters of responses and notifications that clients have not taken yet. */
  queued_chars: number;
  /** Characters of request frames received and not yet answered, over all connections (bounded: section 1.5). */
  held_chars: number;
}

export interface Health {
  version: string;
  protocol: number;
  pid: number;
  uptime_s: number;
  entries: number;
  segments: number;
  first_seq: number | null;
  last_seq: number;
  last_hash: string;
  store_bytes: number;
  disk_full: boolean;
  queue_depth: number;
  key_source: KeyStatus['source'];
  settings: Settings;
  flow: FlowHealth;
  /** Set when the daemon refuses to write (a damaged signed range, a chain it could not verify): why. */
  read_only?: { code: string; message: string };
}

/**
 * A signed record of checkpoints.jsonl, as the daemon wrote it (docs/entry.md §7.3). `checkpoint`: the entry
 * `seq` has hash `hash`. `anchor`: entries up to and including `seq` (whose hash was `hash`) were removed by
 * retention; the chain goes on from there. `repair`: `ai-audit repair` set aside damaged entries after
 * `lost_after`; the chain goes on from the signed hash `hash` of entry `seq`. Signed with the store's Ed25519
 * key so that an editor of the files cannot make new ones, and chained (`n`, `prev`) so that removing or
 * reordering a record is visible.
 */
export interface SignedCheckpoint {
  type: 'checkpoint' | 'anchor' | 'repair';
  seq: number;
  hash: string;
  ts: string;
  key_id: string;
  /** Position of the record in the file, 1, 2, 3, … (absent on records written before chaining). */
  n?: number;
  /** SHA-256 (hex) of the canonical JSON of the previous record, signature included; 64 zeros for n = 1. */
  prev?: string;
  /** `repair` only: the last entry kept; entries `lost_after + 1 … seq` were set aside. */
  lost_after?: number;
  /** Ed25519 signature (base64) over the canonical JSON of the other fields. */
  sig: string;
}

/** What `stats` with `by` groups entries by (`category`: once per detected category). */
export const StatsGroupBy = z.enum(['day', 'model', 'operation', 'category', 'customer', 'user']);
export type StatsGroupBy = z.infer<typeof StatsGroupBy>;

/** One group of `stats` with `by`: decisions and the mean `risk_score` (null: no entry had one). */
export interface StatsGroup {
  key: string;
  total: number;
  allowed: number;
  warned: number;
  blocked: number;
  error: number;
  mean_risk: number | null;
}

export interface Stats {
  total: number;
  per_day: DayCounts[];
  top_categories: Array<{ category: string; count: number }>;
  risk_by_model: Array<{ model: string; operation: string; mean_risk: number; count: number }>;
  /** Only when `by` was given. */
  groups?: StatsGroup[];
}

/** A reviewer's verdict on an entry (`review.add`). */
export const ReviewVerdict = z.enum(['ok', 'false_positive', 'incident']);
export type ReviewVerdict = z.infer<typeof ReviewVerdict>;

/** The signed checkpoint that covers an entry: the first one at or after its seq. */
export interface CheckpointRef {
  seq: number;
  hash: string;
  ts: string;
  key_id: string;
}

/** Most filter sets and opened entries one `access.record` call carries. */
export const MAX_ACCESS_ITEMS = 1000;

/** A schedule's filter: the watermark decides the range, so no since/until. */
const ScheduleFilter = EntryFilter.omit({ since: true, until: true });

const seqOrId = z.union([
  z.strictObject({ seq: z.number().int().positive() }),
  z.strictObject({ id: z.string().min(1).max(64) }),
]);

/**
 * A method's params schema is built on its first use, then kept: most methods are rare, and building zod
 * schemas was a large part of the daemon's start (issue 8).
 */
function builtOnce<T>(holder: object, schema: T): T {
  Object.defineProperty(holder, 'params', { value: schema, enumerable: true });
  return schema;
}

/** The method table: params schema + result type per method. */
export const Methods = {
  /** Store events. Acks arrive only after the bytes are fsync'ed; one result item per event, in order. */
  ingest: {
    get params() {
      return builtOnce(this, z.strictObject({ events: z.array(z.unknown()).min(1).max(MAX_BATCH_EVENTS) }));
    },
    result: undefined as unknown as { acks: Array<IngestAck | IngestRejected> },
  },
  /** Newest first; pass `next_cursor` back as `cursor` for the next page. */
  query: {
    get params() {
      return builtOnce(this, z.strictObject({
        filter: EntryFilter.optional(),
        limit: z.number().int().min(1).max(MAX_PAGE).optional(),
        cursor: z.string().max(512).optional(),
      }));
    },
    result: undefined as unknown as { entries: Entry[]; next_cursor: string | null },
  },
  /** One entry by seq or id. */
  get: {
    get params() {
      return builtOnce(this, seqOrId);
    },
    result: undefined as unknown as { entry: Entry },
  },
  /** Live entries matching the filter arrive as `tail.entries` notifications. */
  'tail.subscribe': {
    get params() {
      return builtOnce(this, z.strictObject({ filter: EntryFilter.optional() }));
    },
    result: undefined as unknown as { subscription: string },
  },
  'tail.unsubscribe': {
    get params() {
      return builtOnce(this, z.strictObject({ subscription: z.string().max(64) }));
    },
    result: undefined as unknown as { ok: true },
  },
  /** Aggregates for charts over the filter (default: the last 30 days). */
  stats: {
    get params() {
      return builtOnce(this, z.strictObject({ filter: EntryFilter.optional(), top: z.number().int().min(1).max(100).optional(), by: StatsGroupBy.optional() }));
    },
    result: undefined as unknown as Stats,
  },
  /** Check the hash chain and the signed checkpoints; progress arrives as `verify.progress`. */
  verify: {
    get params() {
      return builtOnce(this, z.strictObject({
        from_seq: z.number().int().positive().optional(),
        to_seq: z.number().int().positive().optional(),
        /** A checkpoint kept elsewhere: the store must hold entry `seq` with hash `hash`. */
        expect: z.strictObject({ seq: z.number().int().positive(), hash: z.string().regex(/^[0-9a-f]{64}$/) }).optional(),
      }));
    },
    result: undefined as unknown as VerifyReport,
  },
  /**
   * A witness (the extension) saw the store's end go backwards from a checkpoint it remembers: the daemon
   * records it as an `audit.witness` entry with decision `error`.
   */
  'witness.report': {
    get params() {
      return builtOnce(this, z.strictObject({
        remembered: z.strictObject({ seq: z.number().int().positive(), hash: z.string().regex(/^[0-9a-f]{64}$/), ts: z.string().max(64) }),
        observed: z.strictObject({
          checkpoint_seq: z.number().int().nonnegative().nullable(),
          checkpoint_hash: z.string().max(64).nullable(),
          last_seq: z.number().int().nonnegative(),
          hash_at_remembered_seq: z.string().max(64).nullable(),
        }),
        reason: z.string().min(1).max(4096),
        witness: z.string().min(1).max(512),
      }));
    },
    result: undefined as unknown as { seq: number },
  },
  /** The newest signed checkpoint (null before the first) and the chain's end: what a witness remembers. */
  'checkpoints.latest': {
    get params() {
      return builtOnce(this, z.strictObject({}));
    },
    result: undefined as unknown as { checkpoint: SignedCheckpoint | null; last_seq: number; last_hash: string },
  },
  /** Drop whole segments older than the retention period, leaving a signed anchor. */
  'retention.run': {
    get params() {
      return builtOnce(this, z.strictObject({
        older_than_days: z.number().int().min(0).max(36_500).optional(),
        /** Also drop entries that a schedule has not exported yet. */
        force: z.boolean().optional(),
      }));
    },
    result: undefined as unknown as { dropped_segments: number; dropped_entries: number; anchor_seq: number | null },
  },
  'keys.status': {
    get params() {
      return builtOnce(this, z.strictObject({}));
    },
    result: undefined as unknown as KeyStatus,
  },
  /** New active HMAC and encryption keys (old ones are kept for reading) and a new signing key. */
  'keys.rotate': {
    get params() {
      return builtOnce(this, z.strictObject({}));
    },
    result: undefined as unknown as KeyStatus,
  },
  /** Decrypt the content of an encrypted entry. Recorded first as an `audit.decrypt` entry. */
  decrypt: {
    get params() {
      return builtOnce(this, z.intersection(seqOrId, z.strictObject({ reason: z.string().max(4096).optional() }).partial()));
    },
    result: undefined as unknown as { seq: number; input?: string; output?: string; audit_seq: number },
  },
  'settings.get': {
    get params() {
      return builtOnce(this, z.strictObject({}));
    },
    result: undefined as unknown as Settings,
  },
  /** Change settings; each change is recorded as an `audit.settings` entry. */
  'settings.set': {
    get params() {
      return builtOnce(this, Settings.partial());
    },
    result: undefined as unknown as Settings,
  },
  health: {
    get params() {
      return builtOnce(this, z.strictObject({}));
    },
    result: undefined as unknown as Health,
  },
  /** One entry with what a reviewer needs beside it: the checkpoint that covers it and its reviews. */
  'entry.detail': {
    get params() {
      return builtOnce(this, z.strictObject({ seq: z.number().int().positive() }));
    },
    result: undefined as unknown as { entry: Entry; checkpoint: CheckpointRef | null; reviews: Entry[] },
  },
  /** Record a reviewer's verdict on an entry as an `audit.review` entry. */
  'review.add': {
    get params() {
      return builtOnce(this, z.strictObject({
        seq: z.number().int().positive(),
        reviewer: z.string().min(1).max(512),
        verdict: ReviewVerdict,
        note: z.string().max(4096),
      }));
    },
    result: undefined as unknown as { audit_seq: number },
  },
  /** Record what a viewer looked at (a batch: opening, filter sets applied, entries opened) as `audit.access`. */
  'access.record': {
    get params() {
      return builtOnce(this, z.strictObject({
        viewer: z.string().min(1).max(512),
        since: isoTime,
        until: isoTime,
        opened: z.number().int().min(0).max(MAX_ACCESS_ITEMS),
        filters: z.array(EntryFilter).max(MAX_ACCESS_ITEMS),
        entries: z.array(z.number().int().positive()).max(MAX_ACCESS_ITEMS),
      }));
    },
    result: undefined as unknown as { audit_seq: number },
  },
  /** Add a named destination (no secrets: credentials come from the default chain or a keychain ref). */
  'destinations.add': {
    get params() {
      return builtOnce(this, NamedDestination.extend({ replace: z.boolean().optional() }));
    },
    result: undefined as unknown as NamedDestination & { location: string },
  },
  'destinations.list': {
    get params() {
      return builtOnce(this, z.strictObject({}));
    },
    result: undefined as unknown as { destinations: Array<NamedDestination & { location: string }> },
  },
  'destinations.remove': {
    get params() {
      return builtOnce(this, z.strictObject({ name: z.string().min(1).max(128) }));
    },
    result: undefined as unknown as { ok: true },
  },
  /**
   * Store a destination's explicit keys in the daemon's OS keychain under `ref` (the `credentials.ref` of
   * destinations). `values` are the fields of `kind` (daemon/export/destinationSecrets.ts); they are never
   * logged, echoed or kept in state. Recorded as an `audit.credentials` entry naming the ref and kind only.
   */
  'credentials.set': {
    get params() {
      return builtOnce(this, z.strictObject({
        ref: z.string().min(1).max(128),
        kind: DestinationSecretKind,
        values: z.record(z.string().max(64), z.string().max(8192)),
      }));
    },
    result: undefined as unknown as { ok: true; audit_seq: number },
  },
  /** Delete the keys stored under `ref`; `removed` is false when there were none. Recorded as `audit.credentials`. */
  'credentials.remove': {
    get params() {
      return builtOnce(this, z.strictObject({ ref: z.string().min(1).max(128) }));
    },
    result: undefined as unknown as { removed: boolean; audit_seq: number },
  },
  /** Write, read back and delete a probe object; write-only is a valid setup. */
  'destinations.test': {
    get params() {
      return builtOnce(this, z.union([z.strictObject({ name: z.string().min(1).max(128) }), z.strictObject({ config: DestinationConfig })]));
    },
    result: undefined as unknown as DestinationProbe & { location: string },
  },
  /** One-time export; answers when done. Progress arrives as `export.progress`. */
  'export.run': {
    get params() {
      return builtOnce(this, z.strictObject({
        ...ExportShape,
        name: ExportName.optional(),
        filter: EntryFilter.optional(),
      }));
    },
    result: undefined as unknown as ExportRun,
  },
  /** Recorded runs, newest first. */
  'export.runs': {
    get params() {
      return builtOnce(this, z.strictObject({
        schedule: z.string().max(64).optional(),
        limit: z.number().int().min(1).max(MAX_PAGE).optional(),
      }));
    },
    result: undefined as unknown as { runs: ExportRun[] },
  },
  /** Stops a running export at the next object; the run ends `cancelled` and its watermark stays. */
  'export.cancel': {
    get params() {
      return builtOnce(this, z.strictObject({ run_id: z.string().max(64) }));
    },
    result: undefined as unknown as { ok: true },
  },
  'schedules.add': {
    get params() {
      return builtOnce(this, z.strictObject({ ...ScheduleShape, filter: ScheduleFilter.optional() }));
    },
    result: undefined as unknown as Schedule,
  },
  'schedules.list': {
    get params() {
      return builtOnce(this, z.strictObject({}));
    },
    result: undefined as unknown as { schedules: Schedule[] },
  },
  /** Change a schedule; the watermark and the manifest chain stay. */
  'schedules.edit': {
    get params() {
      return builtOnce(this, z.strictObject({
        name: ExportName,
        destination: ExportShape.destination.optional(),
        prefix: ExportShape.prefix,
        layout: ExportShape.layout.unwrap().optional(),
        gzip: z.boolean().optional(),
        timing: ScheduleTiming.optional(),
        time_zone: ScheduleShape.time_zone.unwrap().optional(),
        filter: ScheduleFilter.optional(),
      }));
    },
    result: undefined as unknown as Schedule,
  },
  'schedules.enable': {
    get params() {
      return builtOnce(this, z.strictObject({ name: ExportName }));
    },
    result: undefined as unknown as Schedule,
  },
  'schedules.disable': {
    get params() {
      return builtOnce(this, z.strictObject({ name: ExportName }));
    },
    result: undefined as unknown as Schedule,
  },
  /** Run a schedule now (as its next tick would); answers when done. */
  'schedules.run': {
    get params() {
      return builtOnce(this, z.strictObject({ name: ExportName }));
    },
    result: undefined as unknown as ExportRun,
  },
  'schedules.remove': {
    get params() {
      return builtOnce(this, z.strictObject({ name: ExportName }));
    },
    result: undefined as unknown as { ok: true },
  },
} as const;

export type MethodName = keyof typeof Methods;
export type ParamsOf<M extends MethodName> = z.input<(typeof Methods)[M]['params']>;
export type ResultOf<M extends MethodName> = (typeof Methods)[M]['result'];

export function isMethodName(name: string): name is MethodName {
  return Object.hasOwn(Methods, name);
}

/** Notifications the daemon sends. */
export interface Notifications {
  'tail.entries': { subscription: string; entries: Entry[] };
  'verify.progress': { request: string | number; entries_checked: number; last_seq: number };
  /** A running export (one-time or scheduled): totals so far. */
  'export.progress': { run_id: string; schedule: string | null; objects: number; rows: number; bytes: number; seq: number };
}
export type NotificationName = keyof Notifications;

/**
 * Who a client says it is: its program (`name`) and the OS user running it. Recorded as the `actor` of
 * the `audit.*` entries its requests cause. Claimed, not proven: every holder of the token is equal.
 */
export const ClientIdentity = z.strictObject({
  name: z.string().min(1).max(128).optional(),
  user: z.string().min(1).max(128).optional(),
});
export type ClientIdentity = z.infer<typeof ClientIdentity>;

/** Handshake headers that name the client for the whole connection (a request's `client` overrides them). */
export const CLIENT_NAME_HEADER = 'x-ai-audit-client';
export const CLIENT_USER_HEADER = 'x-ai-audit-user';

export const RequestFrame = z.strictObject({
  id: z.union([z.string().max(64), z.number().int()]),
  method: z.string().max(64),
  params: z.unknown().optional(),
  /** The client's identity for this request only. */
  client: ClientIdentity.optional(),
});
export type RequestFrame = z.infer<typeof RequestFrame>;

export type ResponseFrame =
  | { id: string | number | null; result: unknown }
  | { id: string | number | null; error: WireError };

export interface NotificationFrame<N extends NotificationName = NotificationName> {
  method: N;
  params: Notifications[N];
}

/** Files in the data dir through which a local client finds the daemon. */
export const TOKEN_FILE = 'token';
export const DISCOVERY_FILE = 'daemon.json';
/** The daemon's own log (no content, no secrets), for "Show Daemon Log". */
export const DAEMON_LOG_FILE = 'daemon.log';

/** Contents of the discovery file (mode 0600). The token is in its own 0600 file. */
export interface Discovery {
  pid: number;
  port: number;
  host: '127.0.0.1';
  protocol: number;
  version: string;
  started_at: string;
}

/** Re-exported so that clients need import nothing else of the daemon. */
export { IngestEvent };
