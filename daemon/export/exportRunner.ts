import { createHash } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { KeyMaterial } from '../keys/keyMaterial.ts';
import type { EntryFilter } from '../protocol/messages.ts';
import type { ExportLayout, ExportManifest, ExportObject } from '../protocol/exports.ts';
import type { AuditStore } from '../store/auditStore.ts';
import { compileFilter } from '../store/entryFilter.ts';
import { checkpointsForRange } from './exportCheckpoints.ts';
import { ExportDestinationError, type ExportDestination, type ObjectBody } from './exportDestination.ts';
import { basePrefix, manifestKey, objectKey, partitionOf, type LayoutOptions } from './exportLayout.ts';
import { ObjectFile } from './objectFile.ts';
import { withRetry } from './retry.ts';
import { sha256OfStream } from './streamDigest.ts';

/** Folder of the data dir where objects are rendered before upload; emptied at daemon start. */
export const EXPORT_TMP_DIR = 'export-tmp';
/** Entries scanned per chunk: a chunk's objects and manifest are committed together (the watermark moves). */
export const DEFAULT_CHUNK_ENTRIES = 50_000;
/** Most partitions (objects) open at once; a chunk ends early before opening another. */
const MAX_OPEN_OBJECTS = 64;

export interface ExportPlan {
  /** Manifests of one chain link to each other: the schedule's name, or a one-time run's id. */
  chain: string;
  runId: string;
  name: string;
  /** When the run started (kept in state, so a resumed run names and dates its manifests the same). */
  startedAt: string;
  layout: ExportLayout;
  prefix: string;
  gzip: boolean;
  filter: EntryFilter;
  destinationType: string;
}

export interface ExportRunnerDeps {
  store: AuditStore;
  home: string;
  keys: () => KeyMaterial;
  destination: ExportDestination;
  log: (message: string) => void;
  chunkEntries?: number;
}

export interface CommittedChunk {
  seqFrom: number;
  seqTo: number;
  manifestKey: string;
  manifestSha256: string;
  objects: ExportObject[];
  rows: number;
  bytes: number;
}

export interface RunHooks {
  signal?: AbortSignal;
  onProgress?: (objects: number, rows: number, bytes: number, seq: number) => void;
  /** Called after each chunk's manifest is written; the caller moves the watermark (and persists it) here. */
  onChunk: (chunk: CommittedChunk) => Promise<void>;
}

/**
 * Exports the entries with `fromSeq ≤ seq ≤ toSeq` that match the plan's filter, in chunks: each chunk's
 * objects are rendered to temporary files, uploaded, and then its manifest is written last. Everything
 * that names an object is derived from the entries and the plan, so a run resumed after a crash writes
 * the same keys (and the destination answers `existed` for objects already there).
 */
export async function runExport(
  deps: ExportRunnerDeps,
  plan: ExportPlan,
  range: { fromSeq: number; toSeq: number },
  prevManifestSha256: string | null,
  hooks: RunHooks,
): Promise<void> {
  const tmp = join(deps.home, EXPORT_TMP_DIR, plan.runId);
  await mkdir(tmp, { recursive: true, mode: 0o700 });
  const totals = { objects: 0, rows: 0, bytes: 0 };
  try {
    let from = range.fromSeq;
    let prev = prevManifestSha256;
    do {
      hooks.signal?.throwIfAborted();
      const chunk = await exportChunk(deps, plan, from, range.toSeq, prev, tmp, hooks, totals);
      await hooks.onChunk(chunk);
      prev = chunk.manifestSha256;
      from = chunk.seqTo + 1;
    } while (from <= range.toSeq);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

async function exportChunk(
  deps: ExportRunnerDeps,
  plan: ExportPlan,
  from: number,
  limit: number,
  prevManifestSha256: string | null,
  tmp: string,
  hooks: RunHooks,
  totals: { objects: number; rows: number; bytes: number },
): Promise<CommittedChunk> {
  const { store, destination } = deps;
  const layout: LayoutOptions = { layout: plan.layout, prefix: plan.prefix, gzip: plan.gzip, name: plan.name };
  const compiled = compileFilter(plan.filter);
  const complete = Object.keys(plan.filter).length === 0;
  const chunkEnd = Math.min(limit, from + (deps.chunkEntries ?? DEFAULT_CHUNK_ENTRIES) - 1);
  const open = new Map<string, ObjectFile>();
  let scannedTo = from - 1;
  let prevHash: string | null = null;
  let lastHash: string | null = null;
  let minTs: string | null = null;
  let maxTs: string | null = null;
  let files = 0;
  try {
    if (chunkEnd >= from) {
      for await (const { entry, text } of store.entriesBySeq(from, chunkEnd)) {
        if (hooks.signal?.aborted === true) break;
        if (entry.seq !== scannedTo + 1) {
          throw new ExportDestinationError('invalid_config', `the store has no entry ${scannedTo + 1} (retention removed it?): the export cannot continue without a gap`);
        }
        if (compiled.matches(entry)) {
          const partition = partitionOf(plan.layout, entry.ts);
          let file = open.get(partition);
          if (file === undefined) {
            if (open.size >= MAX_OPEN_OBJECTS) break;
            file = new ObjectFile(join(tmp, `${++files}.part`), partition, plan.gzip);
            open.set(partition, file);
          }
          await file.append(entry.seq, entry.ts, text + '\n');
          if (minTs === null || entry.ts < minTs) minTs = entry.ts;
          if (maxTs === null || entry.ts > maxTs) maxTs = entry.ts;
        }
        if (prevHash === null) prevHash = entry.prev;
        lastHash = entry.hash;
        scannedTo = entry.seq;
      }
      hooks.signal?.throwIfAborted();
      if (scannedTo < chunkEnd && open.size < MAX_OPEN_OBJECTS) {
        throw new ExportDestinationError('invalid_config', `the store ends at seq ${scannedTo}, before ${chunkEnd}`);
      }
    }
    const objects: ExportObject[] = [];
    let bytes = 0;
    let rows = 0;
    // Key order, so that objects are uploaded (and listed in the manifest) the same way on every attempt.
    const ready = [...open.values()].sort((a, b) => a.partition.localeCompare(b.partition));
    for (const file of ready) {
      const { size, sha256 } = await file.finish();
      const key = objectKey(layout, file.partition, file.firstSeq, file.lastSeq, file.firstTs);
      await withRetry(() => destination.putObject(key, file.body(), hooks.signal), retryOptions(deps, hooks, key));
      await file.remove();
      objects.push({ key, rows: file.rows, bytes: size, sha256, first_seq: file.firstSeq, last_seq: file.lastSeq });
      rows += file.rows;
      bytes += size;
      totals.objects++;
      totals.rows += file.rows;
      totals.bytes += size;
      hooks.onProgress?.(totals.objects, totals.rows, totals.bytes, file.lastSeq);
    }
    const checkpoints = scannedTo >= from && lastHash !== null ? await checkpointsForRange(store, deps.home, from, scannedTo, lastHash) : [];
    const keys = deps.keys();
    const publicKeys: Record<string, string> = {};
    for (const id of new Set(checkpoints.map((c) => c.key_id))) {
      const key = keys.signingPublicKeys.get(id);
      if (key !== undefined) publicKeys[id] = key.export({ type: 'spki', format: 'pem' }).toString();
    }
    const manifest: ExportManifest = {
      format: 'ai-audit-export-manifest/1',
      chain: plan.chain,
      run_id: plan.runId,
      name: plan.name,
      created_at: new Date().toISOString(),
      destination: { type: plan.destinationType, location: destination.location },
      layout: plan.layout,
      gzip: plan.gzip,
      prefix: basePrefix(plan),
      filter: plan.filter,
      complete,
      seq_from: from,
      seq_to: scannedTo,
      time_range: { min_ts: minTs, max_ts: maxTs },
      prev_hash: prevHash,
      last_hash: lastHash,
      rows,
      objects,
      checkpoints,
      public_keys: publicKeys,
      prev_manifest_sha256: prevManifestSha256,
    };
    const key = manifestKey(plan, plan.chain, from, scannedTo, plan.startedAt);
    const sha256 = await putManifest(deps, key, manifest, hooks);
    return { seqFrom: from, seqTo: scannedTo, manifestKey: key, manifestSha256: sha256, objects, rows, bytes };
  } finally {
    for (const file of open.values()) await file.remove();
  }
}

function retryOptions(deps: ExportRunnerDeps, hooks: RunHooks, key: string) {
  return {
    ...(hooks.signal === undefined ? {} : { signal: hooks.signal }),
    onRetry: (error: ExportDestinationError, attempt: number, delay: number) =>
      deps.log(`export: ${key}: ${error.code}, retry ${attempt} in ${delay} ms`),
  };
}

/**
 * Writes the manifest. When a resumed run finds the manifest of the same chunk already there (the crash
 * came after it was written, before the watermark moved), that manifest is adopted if it lists the same
 * objects: its own bytes (with its own creation time and checkpoint) stay the chain's link.
 */
async function putManifest(deps: ExportRunnerDeps, key: string, manifest: ExportManifest, hooks: RunHooks): Promise<string> {
  const bytes = Buffer.from(JSON.stringify(manifest, null, 2) + '\n');
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const body: ObjectBody = { open: () => Readable.from([bytes]), size: bytes.length, sha256, contentType: 'application/json' };
  try {
    await withRetry(() => deps.destination.putObject(key, body, hooks.signal), retryOptions(deps, hooks, key));
    return sha256;
  } catch (error: unknown) {
    if (!(error instanceof ExportDestinationError) || error.code !== 'object_exists') throw error;
  }
  const existingBytes = Buffer.concat(await (await deps.destination.getObject(key, hooks.signal)).toArray());
  const existing = JSON.parse(existingBytes.toString('utf8')) as ExportManifest;
  const same =
    existing.seq_from === manifest.seq_from &&
    existing.seq_to === manifest.seq_to &&
    existing.prev_manifest_sha256 === manifest.prev_manifest_sha256 &&
    JSON.stringify(existing.objects) === JSON.stringify(manifest.objects);
  if (!same) throw new ExportDestinationError('object_exists', `${key} exists with another content: another export writes to the same place`);
  deps.log(`export: adopted the manifest ${key} of an interrupted run`);
  return sha256OfStream(Readable.from([existingBytes]));
}
