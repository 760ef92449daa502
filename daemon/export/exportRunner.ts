import { createHash } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { KeyMaterial } from '../keys/keyMaterial.ts';
import type { Entry } from '../protocol/entry.ts';
import type { EntryFilter } from '../protocol/messages.ts';
import type { ExportLayout, ExportManifest, ExportObject } from '../protocol/exports.ts';
import type { AuditStore } from '../store/auditStore.ts';
import { compileFilter } from '../store/entryFilter.ts';
import { ExportCheckpoints } from './exportCheckpoints.ts';
import { ExportDestinationError, type ExportDestination, type ObjectBody } from './exportDestination.ts';
import { basePrefix, manifestKey, objectKey, partitionOf, type LayoutOptions } from './exportLayout.ts';
import { signManifest } from './manifestSignature.ts';
import { ObjectFile } from './objectFile.ts';
import { withRetry } from './retry.ts';
import { sha256OfStream } from './streamDigest.ts';
import { storedLineFields, type StoredLineFields } from './storedLineFields.ts';

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
 *
 * The next chunk is rendered (read, filtered, written to temporary files: CPU and local disk) while the
 * current one uploads (the network, the store's server): done one after the other, each waited for the
 * other. Only rendering runs ahead; uploads, manifests and the watermark stay in chunk order.
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
  const files = { next: 0 };
  const checkpoints = new ExportCheckpoints(deps.home, range.fromSeq);
  let ahead: Promise<RenderedChunk> | null = null;
  try {
    let prev = prevManifestSha256;
    ahead = renderChunk(deps, plan, range.fromSeq, range.toSeq, tmp, files, hooks);
    for (;;) {
      const rendered: RenderedChunk = await ahead;
      ahead = null;
      try {
        if (rendered.scannedTo < range.toSeq) ahead = renderChunk(deps, plan, rendered.scannedTo + 1, range.toSeq, tmp, files, hooks);
        const chunk = await commitChunk(deps, plan, rendered, prev, hooks, totals, checkpoints);
        await hooks.onChunk(chunk);
        prev = chunk.manifestSha256;
      } finally {
        await rendered.dispose();
      }
      if (ahead === null) break;
    }
  } finally {
    // A chunk rendered ahead of a failed or cancelled one is dropped (its files with the folder).
    if (ahead !== null) await ahead.then((r) => r.dispose(), () => undefined);
    await rm(tmp, { recursive: true, force: true });
  }
}

/** A chunk's rows rendered to temporary files, ready to upload. */
interface RenderedChunk {
  from: number;
  scannedTo: number;
  /** Finished object files, in key order. */
  files: ObjectFile[];
  complete: boolean;
  prevHash: string | null;
  lastHash: string | null;
  minTs: string | null;
  maxTs: string | null;
  dispose(): Promise<void>;
}

async function renderChunk(
  deps: ExportRunnerDeps,
  plan: ExportPlan,
  from: number,
  limit: number,
  tmp: string,
  files: { next: number },
  hooks: RunHooks,
): Promise<RenderedChunk> {
  const { store } = deps;
  const compiled = compileFilter(plan.filter);
  const complete = Object.keys(plan.filter).length === 0;
  const chunkEnd = Math.min(limit, from + (deps.chunkEntries ?? DEFAULT_CHUNK_ENTRIES) - 1);
  const open = new Map<string, ObjectFile>();
  let scannedTo = from - 1;
  let prevHash: string | null = null;
  let lastHash: string | null = null;
  let minTs: string | null = null;
  let maxTs: string | null = null;
  const dispose = async (): Promise<void> => {
    for (const file of open.values()) await file.remove();
  };
  try {
    if (chunkEnd >= from) {
      // The stored lines' bytes are copied into the objects as they are (docs/exports.md: each line is the
      // entry exactly as stored): without a filter only `seq` and `ts` are read, from each line's tail.
      // The first line (its `prev`) and the last (its `hash`) are parsed; so is every line under a filter.
      // The last scanned line, kept as text: the store's buffer is read into again for the next chunk.
      let lastLine: string | null = null;
      chunks: for await (const data of store.lineChunksBySeq(from, chunkEnd)) {
        if (hooks.signal?.aborted === true) break;
        let lineStart = 0;
        let lastStart = -1;
        let lastEnd = 0;
        try {
          for (let nl = data.indexOf(10); nl !== -1; nl = data.indexOf(10, lineStart)) {
            const start = lineStart;
            lineStart = nl + 1;
            let entry: Entry | null = null;
            let fields: StoredLineFields | null = complete ? storedLineFields(data, start, nl) : null;
            if (fields === null) {
              entry = parseStoredLine(data, start, nl);
              if (entry === null) {
                // Skipped, it would end the run as a seq gap; copied, it would upload a damaged line silently.
                throw new ExportDestinationError('store_damaged', `a stored line after seq ${scannedTo} is not an entry: run \`ai-audit verify\``);
              }
              fields = entry;
            }
            const { seq, ts } = fields;
            if (seq < from) continue;
            if (seq > chunkEnd) break chunks;
            if (seq !== scannedTo + 1) {
              throw new ExportDestinationError('store_gap', `the store has no entry ${scannedTo + 1} (retention removed it?): the export cannot continue without a gap`);
            }
            if (complete || compiled.matches(entry as Entry)) {
              const partition = partitionOf(plan.layout, ts);
              let file = open.get(partition);
              if (file === undefined) {
                if (open.size >= MAX_OPEN_OBJECTS) break chunks;
                file = new ObjectFile(join(tmp, `${++files.next}.part`), partition, plan.gzip);
                open.set(partition, file);
              }
              if (file.append(seq, ts, data, start, lineStart)) await file.flush();
              if (minTs === null || ts < minTs) minTs = ts;
              if (maxTs === null || ts > maxTs) maxTs = ts;
            }
            if (prevHash === null) prevHash = (entry ?? parsedStoredLine(data.toString('utf8', start, nl))).prev;
            lastStart = start;
            lastEnd = nl;
            scannedTo = seq;
          }
        } finally {
          // Before the next chunk is read into the same buffer (also when the walk stops here).
          for (const file of open.values()) file.release();
          if (lastStart !== -1) lastLine = data.toString('utf8', lastStart, lastEnd);
        }
      }
      if (lastLine !== null) lastHash = parsedStoredLine(lastLine).hash;
      hooks.signal?.throwIfAborted();
      if (scannedTo < chunkEnd && open.size < MAX_OPEN_OBJECTS) {
        throw new ExportDestinationError('store_gap', `the store ends at seq ${scannedTo}, before ${chunkEnd}`);
      }
    }
    // Key order, so that objects are uploaded (and listed in the manifest) the same way on every attempt.
    const ready = [...open.values()].sort((a, b) => a.partition.localeCompare(b.partition));
    for (const file of ready) await file.finish();
    return { from, scannedTo, files: ready, complete, prevHash, lastHash, minTs, maxTs, dispose };
  } catch (error: unknown) {
    await dispose();
    throw error;
  }
}

/**
 * Objects of one chunk uploaded at once: small objects spend most of their time waiting for answers. At
 * most this many objects and {@link IN_FLIGHT_BYTES} bytes are in flight (each upload buffers up to a part,
 * and a large object goes multipart with parts in flight of its own), so memory stays bounded; an object
 * larger than that goes alone.
 */
const UPLOADS_AT_ONCE = 4;
const IN_FLIGHT_BYTES = 16 * 1024 * 1024;

/**
 * Uploads `files` through `upload`, a new one starting as soon as one ends and there is room; `onDone` is
 * called in key order (for progress that only moves forward). Returns the objects in key order. After a
 * failure nothing new starts, and the uploads in flight end before it is thrown (none still reads its file).
 */
async function uploadAll(files: readonly ObjectFile[], upload: (file: ObjectFile) => Promise<ExportObject>, onDone: (object: ExportObject) => void): Promise<ExportObject[]> {
  const results: Array<ExportObject | undefined> = files.map(() => undefined);
  const running = new Set<Promise<void>>();
  let next = 0;
  let reported = 0;
  let bytes = 0;
  let failure: { error: unknown } | null = null;
  while (next < files.length && failure === null) {
    const file = files[next];
    if (file === undefined) break;
    if (running.size > 0 && (running.size >= UPLOADS_AT_ONCE || bytes + file.size > IN_FLIGHT_BYTES)) {
      await Promise.race(running);
      continue;
    }
    const index = next++;
    bytes += file.size;
    const task: Promise<void> = upload(file)
      .then(
        (object) => {
          results[index] = object;
          for (let done = results[reported]; done !== undefined; done = results[reported]) {
            onDone(done);
            reported++;
          }
        },
        (error: unknown) => {
          failure ??= { error };
        },
      )
      .finally(() => {
        bytes -= file.size;
        running.delete(task);
      });
    running.add(task);
  }
  await Promise.all(running);
  if (failure !== null) throw (failure as { error: unknown }).error;
  return results.filter((r): r is ExportObject => r !== undefined);
}

async function commitChunk(
  deps: ExportRunnerDeps,
  plan: ExportPlan,
  rendered: RenderedChunk,
  prevManifestSha256: string | null,
  hooks: RunHooks,
  totals: { objects: number; rows: number; bytes: number },
  signed: ExportCheckpoints,
): Promise<CommittedChunk> {
  const { store, destination } = deps;
  const { from, scannedTo, lastHash } = rendered;
  const layout: LayoutOptions = { layout: plan.layout, prefix: plan.prefix, gzip: plan.gzip, name: plan.name };
  const objects = await uploadAll(
    rendered.files,
    async (file) => {
      const { size, sha256 } = await file.finish();
      const key = objectKey(layout, file.partition, file.firstSeq, file.lastSeq, file.firstTs);
      await withRetry(() => destination.putObject(key, file.body(), hooks.signal), retryOptions(deps, hooks, key));
      await file.remove();
      return { key, rows: file.rows, bytes: size, sha256, first_seq: file.firstSeq, last_seq: file.lastSeq };
    },
    (object) => {
      totals.objects++;
      totals.rows += object.rows;
      totals.bytes += object.bytes;
      hooks.onProgress?.(totals.objects, totals.rows, totals.bytes, object.last_seq);
    },
  );
  const rows = objects.reduce((n, o) => n + o.rows, 0);
  const bytes = objects.reduce((n, o) => n + o.bytes, 0);
  const checkpoints = scannedTo >= from && lastHash !== null ? await signed.forRange(store, from, scannedTo, lastHash) : [];
  const keys = deps.keys();
  const publicKeys: Record<string, string> = {};
  for (const id of new Set([...checkpoints.map((c) => c.key_id), keys.signing.id])) {
    const key = keys.signingPublicKeys.get(id);
    if (key !== undefined) publicKeys[id] = key.export({ type: 'spki', format: 'pem' }).toString();
  }
  const unsigned: ExportManifest = {
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
    complete: rendered.complete,
    seq_from: from,
    seq_to: scannedTo,
    time_range: { min_ts: rendered.minTs, max_ts: rendered.maxTs },
    prev_hash: rendered.prevHash,
    last_hash: lastHash,
    rows,
    objects,
    checkpoints,
    public_keys: publicKeys,
    prev_manifest_sha256: prevManifestSha256,
  };
  // Signed last, over everything else: the newest manifest has no later one linking to its bytes.
  const manifest = signManifest(unsigned, keys.signing.id, keys.signing.privateKey);
  const key = manifestKey(plan, plan.chain, from, scannedTo, plan.startedAt);
  const sha256 = await putManifest(deps, key, manifest, hooks);
  return { seqFrom: from, seqTo: scannedTo, manifestKey: key, manifestSha256: sha256, objects, rows, bytes };
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

/** The entry of a stored line, or null when the line is not JSON of an object with a seq and a ts. */
function parseStoredLine(data: Buffer, start: number, end: number): Entry | null {
  let value: unknown;
  try {
    value = JSON.parse(data.toString('utf8', start, end));
  } catch {
    return null;
  }
  const entry = value as Partial<Entry> | null;
  return typeof entry === 'object' && entry !== null && Number.isSafeInteger(entry.seq) && typeof entry.ts === 'string' ? (entry as Entry) : null;
}

/** The entry of a line whose `seq` was read: one that is not JSON has no `prev` or `hash` to give. */
function parsedStoredLine(text: string): Entry {
  let entry: Entry | null = null;
  try {
    entry = JSON.parse(text) as Entry;
  } catch {
    // Named below.
  }
  if (entry === null) throw new ExportDestinationError('store_damaged', 'a stored line is not JSON: run `ai-audit verify`');
  return entry;
}
