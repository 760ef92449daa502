import { z } from 'zod';
import { DestinationConfig } from './destinations.ts';
import type { SignedCheckpoint } from './messages.ts';

/**
 * Exports on the wire and in `state.json`: what to export (layout, prefix, filters), when (schedules), and
 * what happened (runs, manifests). Never a secret: destinations carry no credentials (see destinations.ts).
 */

export const ExportLayout = z.enum(['hive', 'lakera', 'obot']);
export type ExportLayout = z.infer<typeof ExportLayout>;

const keyPrefix = z
  .string()
  .max(512)
  .refine(
    (p) => !p.startsWith('/') && !p.includes('\\') && ![...p].some((c) => c.charCodeAt(0) < 0x20),
    'a key prefix without a leading slash, backslashes or control characters',
  );
export const ExportName = z.string().min(1).max(64).regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, dot, dash, underscore');

/** Time of day `HH:MM` (24 h) in the schedule's time zone. */
const timeOfDay = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'a time of day HH:MM');

/** When a schedule runs. Times are wall-clock times in `time_zone` (an IANA name; default UTC). */
export const ScheduleTiming = z.discriminatedUnion('every', [
  /** Every hour at `minute` past the hour. */
  z.strictObject({ every: z.literal('hour'), minute: z.number().int().min(0).max(59).default(0) }),
  z.strictObject({ every: z.literal('day'), time: timeOfDay }),
  /** `day`: 0 Sunday … 6 Saturday. */
  z.strictObject({ every: z.literal('week'), day: z.number().int().min(0).max(6), time: timeOfDay }),
  /** `day` 1–31; in shorter months the run is on the month's last day. */
  z.strictObject({ every: z.literal('month'), day: z.number().int().min(1).max(31), time: timeOfDay }),
]);
export type ScheduleTiming = z.infer<typeof ScheduleTiming>;

/** A destination: the name of one added with `destinations.add`, or a whole configuration. */
export const DestinationRef = z.union([z.string().min(1).max(128), DestinationConfig]);
export type DestinationRef = z.infer<typeof DestinationRef>;

/** What an export writes, shared by one-time exports and schedules. */
export const ExportShape = {
  destination: DestinationRef,
  /** Key prefix inside the destination (after the destination's own prefix). Obot's default is `mcp-audit-logs`. */
  prefix: keyPrefix.optional(),
  layout: ExportLayout.default('hive'),
  gzip: z.boolean().default(false),
};

/** A schedule's own fields (messages.ts adds its `filter`, an EntryFilter without since/until). */
export const ScheduleShape = {
  name: ExportName,
  ...ExportShape,
  timing: ScheduleTiming,
  /** IANA time zone of `timing` (checked with Intl). */
  time_zone: z
    .string()
    .min(1)
    .max(64)
    .refine((zone) => {
      try {
        new Intl.DateTimeFormat('en-US', { timeZone: zone });
        return true;
      } catch {
        return false;
      }
    }, 'an IANA time zone such as Europe/Berlin or UTC')
    .default('UTC'),
  enabled: z.boolean().default(true),
};

/** One object written by a run. */
export interface ExportObject {
  key: string;
  rows: number;
  bytes: number;
  sha256: string;
  first_seq: number;
  last_seq: number;
}

export type ExportRunStatus = 'running' | 'succeeded' | 'failed' | 'cancelled' | 'interrupted';

/** A run as recorded in state and answered by `export.runs`. */
export interface ExportRun {
  id: string;
  /** The schedule's name, or null for a one-time export. */
  schedule: string | null;
  name: string;
  location: string;
  layout: ExportLayout;
  status: ExportRunStatus;
  started_at: string;
  finished_at: string | null;
  /** Seq range the run covers (all entries after the watermark up to the store's end when it started). */
  seq_from: number;
  seq_to: number;
  rows: number;
  bytes: number;
  /** Objects written, in order (at most 1000 listed; `objects_total` counts all). */
  objects: ExportObject[];
  objects_total: number;
  /** Manifest keys, one per committed chunk. */
  manifests: string[];
  /**
   * Why it failed: the wire error's `code`, the destination's `reason` when there is one (`destination_error`),
   * and its `message` (written for people, never a secret). Runs recorded before session 6 have the reason in
   * `code` and no `reason`.
   */
  error: { code: string; reason?: string; message: string } | null;
  /** The `audit.export` entry that records this run. */
  audit_seq: number | null;
}

/** A schedule as stored and listed. */
export interface Schedule {
  name: string;
  destination: DestinationRef;
  prefix?: string | undefined;
  layout: ExportLayout;
  gzip: boolean;
  timing: ScheduleTiming;
  time_zone: string;
  filter?: Record<string, unknown> | undefined;
  enabled: boolean;
  created_at: string;
  /** Every entry with seq ≤ this was considered by a committed run. */
  watermark_seq: number;
  /** SHA-256 and key of the newest committed manifest: the next manifest links to it. */
  last_manifest: { key: string; sha256: string } | null;
  next_run_at: string | null;
  /** A run that started and has not finished: the daemon resumes it (same range, same names) on start. */
  pending: { run_id: string; started_at: string; seq_to: number } | null;
  last_run: { id: string; status: ExportRunStatus; finished_at: string | null } | null;
}

/** The manifest written last for each committed chunk of a run (`…/_manifests/<chain>/<range>.manifest.json`). */
export interface ExportManifest {
  format: 'ai-audit-export-manifest/1';
  /** Schedule name, or the one-time export's run id: manifests of one chain link by `prev_manifest_sha256`. */
  chain: string;
  run_id: string;
  name: string;
  created_at: string;
  destination: { type: string; location: string };
  layout: ExportLayout;
  gzip: boolean;
  prefix: string;
  filter: Record<string, unknown>;
  /** Whether every entry of the seq range is exported (no filter): then rows chain from `prev_hash` to `last_hash`. */
  complete: boolean;
  /** The seq range this manifest covers; `seq_to = seq_from - 1` when nothing new was there. */
  seq_from: number;
  seq_to: number;
  time_range: { min_ts: string | null; max_ts: string | null };
  /** The chain's hash before `seq_from` and at `seq_to`. */
  prev_hash: string | null;
  last_hash: string | null;
  rows: number;
  objects: ExportObject[];
  /** Signed checkpoints inside the range (one at `seq_to` always). */
  checkpoints: SignedCheckpoint[];
  /** Ed25519 public keys (SPKI PEM) by key id. */
  public_keys: Record<string, string>;
  prev_manifest_sha256: string | null;
  /**
   * Ed25519 signature by the store's checkpoint signing key (its public key is in `public_keys`) over the
   * canonical JSON of every other member. Absent in manifests written before manifests were signed.
   */
  signature?: { key_id: string; sig: string };
}
