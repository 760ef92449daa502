import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { createInterface } from 'node:readline';
import { PassThrough, type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { Entry } from '../protocol/entry.ts';
import type { ExportManifest } from '../protocol/exports.ts';
import { checkpointSignatureValid } from '../store/checkpoints.ts';
import { entryHash } from '../store/entryHash.ts';
import type { ManifestCheckpoint } from './exportCheckpoints.ts';
import type { ExportDestination } from './exportDestination.ts';
import { MANIFEST_DIR, MANIFEST_SUFFIX } from './exportLayout.ts';
import { manifestSignatureValid } from './manifestSignature.ts';

export type ExportProblemCode =
  | 'missing_object'
  | 'altered_object'
  | 'altered_row'
  | 'extra_object'
  | 'chain_broken'
  | 'checkpoint_signature'
  | 'checkpoint_missing'
  | 'manifest_unreadable'
  | 'manifest_signature'
  | 'manifest_gap'
  | 'seq_gap'
  | 'no_manifest';

export interface ExportProblem {
  code: ExportProblemCode;
  /** The object or manifest concerned. */
  key: string | null;
  message: string;
}

export interface ExportVerifyReport {
  ok: boolean;
  manifests: number;
  objects_checked: number;
  rows_checked: number;
  /** Chains (schedules or one-time runs) and the seq range each covers. */
  chains: Array<{ chain: string; manifests: number; seq_from: number; seq_to: number }>;
  problems: ExportProblem[];
  /** Whether the public keys came from the manifests themselves (not pinned with --public-key). */
  keys_from_manifests: boolean;
  /** Every checkpoint whose signature verified: what `verify --against` compares with the local chain. */
  checkpoints: ManifestCheckpoint[];
  /**
   * Manifests without a signature (written before manifests were signed), accepted with a warning: for
   * these, an edit of a chain's newest manifest cannot be detected. An unsigned manifest after a signed
   * one of the same chain is a `manifest_signature` problem instead (a signature stripped).
   */
  unsigned_manifests: string[];
  /**
   * SHA-256 of every manifest here, by its key from `_manifests/` on (the same whatever prefix the location
   * was given with): `verify --against` compares the local schedules' newest manifests with these.
   */
  manifest_sha256: Record<string, string>;
}

/** A manifest key from its `_manifests/` folder on. */
export function manifestKeyTail(key: string): string {
  const at = key.lastIndexOf(`${MANIFEST_DIR}/`);
  return at < 0 ? key : key.slice(at);
}

const isManifestKey = (key: string): boolean =>
  key.endsWith(MANIFEST_SUFFIX) && (key.startsWith(`${MANIFEST_DIR}/`) || key.includes(`/${MANIFEST_DIR}/`));
const isDataKey = (key: string): boolean => key.endsWith('.jsonl') || key.endsWith('.jsonl.gz');

async function readAll(stream: Readable): Promise<Buffer> {
  return Buffer.concat(await stream.toArray());
}

/**
 * Checks an export offline, through the same destination interface the exporter writes with: every object
 * against its manifest (present, size, SHA-256), every row against its own hash, the rows of a complete
 * (unfiltered) manifest against the chain anchors, the checkpoints against their signatures, and each
 * chain of manifests for gaps (a deleted manifest or a deleted whole run).
 */
export async function verifyExport(destination: ExportDestination, options: { publicKeys?: KeyObject[]; signal?: AbortSignal } = {}): Promise<ExportVerifyReport> {
  const problems: ExportProblem[] = [];
  const report: ExportVerifyReport = {
    ok: false,
    manifests: 0,
    objects_checked: 0,
    rows_checked: 0,
    chains: [],
    problems,
    keys_from_manifests: options.publicKeys === undefined,
    checkpoints: [],
    unsigned_manifests: [],
    manifest_sha256: {},
  };
  const listed = new Map<string, number>();
  for await (const info of destination.list('', options.signal)) listed.set(info.key, info.size);

  const manifests: Array<{ key: string; sha256: string; manifest: ExportManifest }> = [];
  for (const key of [...listed.keys()].filter(isManifestKey)) {
    const bytes = await readAll(await destination.getObject(key, options.signal));
    try {
      const manifest = JSON.parse(bytes.toString('utf8')) as ExportManifest;
      if (manifest.format !== 'ai-audit-export-manifest/1') throw new Error('unknown format');
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      manifests.push({ key, sha256, manifest });
      report.manifest_sha256[manifestKeyTail(key)] = sha256;
    } catch {
      problems.push({ code: 'manifest_unreadable', key, message: `${key} is not a manifest of this tool` });
    }
  }
  report.manifests = manifests.length;

  const referenced = new Set<string>();
  for (const { key, manifest } of manifests) {
    for (const object of manifest.objects) referenced.add(object.key);
    await checkManifest(destination, key, manifest, listed, options, report);
  }
  for (const key of listed.keys()) {
    if (isDataKey(key) && !referenced.has(key)) {
      problems.push({
        code: 'extra_object',
        key,
        message: `${key} is listed in no manifest: its run's manifest is missing (an unfinished run or a deleted manifest), or the object was added`,
      });
    }
  }
  if (manifests.length === 0 && problems.length === 0) {
    problems.push({ code: 'no_manifest', key: null, message: 'no manifest was found here: this is not an export, or all of its manifests are gone' });
  }
  checkChains(manifests, report);
  report.ok = problems.length === 0;
  return report;
}

async function checkManifest(
  destination: ExportDestination,
  manifestKey: string,
  manifest: ExportManifest,
  listed: Map<string, number>,
  options: { publicKeys?: KeyObject[]; signal?: AbortSignal },
  report: ExportVerifyReport,
): Promise<void> {
  const problems = report.problems;
  const rows = new Map<number, { prev: string; hash: string }>();
  for (const object of manifest.objects) {
    const size = listed.get(object.key);
    if (size === undefined) {
      problems.push({ code: 'missing_object', key: object.key, message: `${object.key} (seq ${object.first_seq}–${object.last_seq}, ${object.rows} rows) is missing` });
      continue;
    }
    report.objects_checked++;
    const raw = await destination.getObject(object.key, options.signal);
    const hash = createHash('sha256');
    let bytes = 0;
    const tee = new PassThrough();
    raw.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      bytes += chunk.length;
    });
    raw.on('error', (error) => tee.destroy(error));
    raw.pipe(tee);
    const text = object.key.endsWith('.gz') ? tee.pipe(createGunzip()) : tee;
    let count = 0;
    let firstBad: string | null = null;
    try {
      for await (const line of createInterface({ input: text, crlfDelay: Infinity })) {
        if (line === '') continue;
        count++;
        let entry: Entry;
        try {
          entry = JSON.parse(line) as Entry;
        } catch {
          firstBad ??= `row ${count} is not JSON`;
          continue;
        }
        if (entryHash(entry) !== entry.hash) firstBad ??= `the row of seq ${entry.seq} does not match its hash (edited)`;
        else if (entry.seq < object.first_seq || entry.seq > object.last_seq) firstBad ??= `seq ${entry.seq} lies outside ${object.first_seq}–${object.last_seq}`;
        else if (rows.has(entry.seq)) firstBad ??= `seq ${entry.seq} occurs twice`;
        else rows.set(entry.seq, { prev: entry.prev, hash: entry.hash });
        report.rows_checked++;
      }
    } catch {
      firstBad ??= 'the object cannot be decompressed';
    }
    const digest = hash.digest('hex');
    if (firstBad !== null) problems.push({ code: 'altered_row', key: object.key, message: `${object.key}: ${firstBad}` });
    if (digest !== object.sha256 || bytes !== object.bytes || count !== object.rows) {
      problems.push({
        code: 'altered_object',
        key: object.key,
        message: `${object.key} differs from its manifest (${bytes} bytes, ${count} rows, sha256 ${digest.slice(0, 12)}… instead of ${object.bytes} bytes, ${object.rows} rows, ${object.sha256.slice(0, 12)}…)`,
      });
    }
  }

  if (manifest.complete && manifest.seq_to >= manifest.seq_from) {
    let prev = manifest.prev_hash;
    for (let seq = manifest.seq_from; seq <= manifest.seq_to; seq++) {
      const row = rows.get(seq);
      if (row === undefined) {
        problems.push({ code: 'chain_broken', key: manifestKey, message: `${manifestKey}: the row of seq ${seq} is missing from the export` });
        break;
      }
      if (row.prev !== prev) {
        problems.push({ code: 'chain_broken', key: manifestKey, message: `${manifestKey}: seq ${seq} does not follow seq ${seq - 1} in the hash chain` });
        break;
      }
      prev = row.hash;
    }
    if (prev !== manifest.last_hash && problems.every((p) => p.key !== manifestKey)) {
      problems.push({ code: 'chain_broken', key: manifestKey, message: `${manifestKey}: the rows do not end at the chain hash the manifest names` });
    }
  }

  const keys = options.publicKeys;
  checkManifestSignature(manifestKey, manifest, keys, report);
  for (const checkpoint of manifest.checkpoints) {
    const candidates = keys ?? (manifest.public_keys[checkpoint.key_id] === undefined ? [] : [createPublicKey(manifest.public_keys[checkpoint.key_id] ?? '')]);
    if (!candidates.some((key) => checkpointSignatureValid(checkpoint, key))) {
      problems.push({ code: 'checkpoint_signature', key: manifestKey, message: `${manifestKey}: the checkpoint of seq ${checkpoint.seq} has no valid signature${keys === undefined ? '' : ' under the given public key'}` });
      continue;
    }
    report.checkpoints.push(checkpoint);
    const row = rows.get(checkpoint.seq);
    if (row !== undefined && row.hash !== checkpoint.hash) {
      problems.push({ code: 'chain_broken', key: manifestKey, message: `${manifestKey}: the signed checkpoint says seq ${checkpoint.seq} had another hash` });
    }
  }
  if (manifest.seq_to >= manifest.seq_from && !manifest.checkpoints.some((c) => c.seq === manifest.seq_to && c.hash === manifest.last_hash)) {
    problems.push({ code: 'checkpoint_missing', key: manifestKey, message: `${manifestKey}: no signed checkpoint at its last seq ${manifest.seq_to}` });
  }
}

function checkManifestSignature(manifestKey: string, manifest: ExportManifest, keys: KeyObject[] | undefined, report: ExportVerifyReport): void {
  const signature = manifest.signature;
  if (signature === undefined) {
    report.unsigned_manifests.push(manifestKey);
    return;
  }
  const own = typeof signature === 'object' && signature !== null ? manifest.public_keys[signature.key_id] : undefined;
  let candidates: KeyObject[] = [];
  try {
    candidates = keys ?? (own === undefined ? [] : [createPublicKey(own)]);
  } catch {
    // A public key that does not parse verifies nothing: reported below.
  }
  if (!candidates.some((key) => manifestSignatureValid(manifest, key))) {
    report.problems.push({
      code: 'manifest_signature',
      key: manifestKey,
      message: `${manifestKey}: the manifest's signature is not valid${keys === undefined ? '' : ' under the given public key'}: it was edited after it was written`,
    });
  }
}

function checkChains(manifests: Array<{ key: string; sha256: string; manifest: ExportManifest }>, report: ExportVerifyReport): void {
  const chains = new Map<string, typeof manifests>();
  for (const item of manifests) {
    const list = chains.get(item.manifest.chain) ?? [];
    list.push(item);
    chains.set(item.manifest.chain, list);
  }
  for (const [chain, list] of chains) {
    list.sort((a, b) => a.manifest.seq_from - b.manifest.seq_from || a.manifest.created_at.localeCompare(b.manifest.created_at));
    const first = list[0];
    const last = list.at(-1);
    if (first === undefined || last === undefined) continue;
    report.chains.push({ chain, manifests: list.length, seq_from: first.manifest.seq_from, seq_to: last.manifest.seq_to });
    if (first.manifest.prev_manifest_sha256 !== null) {
      report.problems.push({ code: 'manifest_gap', key: first.key, message: `${first.key}: the manifests of ${chain} before it are missing (it links to one that is not here)` });
    }
    for (let i = 1; i < list.length; i++) {
      const before = list[i - 1];
      const item = list[i];
      if (before === undefined || item === undefined) continue;
      if (item.manifest.prev_manifest_sha256 !== before.sha256) {
        report.problems.push({
          code: 'manifest_gap',
          key: item.key,
          message: `${item.key}: the manifest before it in ${chain} is not ${before.key}: a manifest (a whole run) between them is missing or was replaced`,
        });
      }
      if (item.manifest.signature === undefined && before.manifest.signature !== undefined) {
        report.problems.push({
          code: 'manifest_signature',
          key: item.key,
          message: `${item.key}: the manifest is not signed although the one before it in ${chain} is: its signature was removed`,
        });
      }
      if (item.manifest.seq_from !== before.manifest.seq_to + 1) {
        report.problems.push({
          code: 'seq_gap',
          key: item.key,
          message: `${chain}: seq ${before.manifest.seq_to + 1}–${item.manifest.seq_from - 1} were exported by no manifest here (a deleted run)`,
        });
      }
    }
  }
}

/** Public keys from a PEM file (one or more SPKI blocks). */
export function publicKeysFromPem(text: string): KeyObject[] {
  const blocks = text.match(/-----BEGIN PUBLIC KEY-----[\s\S]+?-----END PUBLIC KEY-----/g) ?? [];
  return blocks.map((block) => createPublicKey(block));
}
