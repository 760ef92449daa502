import { open } from 'node:fs/promises';
import { join } from 'node:path';
import type { ExportManifest } from '../protocol/exports.ts';
import type { AuditStore } from '../store/auditStore.ts';
import { CHECKPOINTS_FILE, type Checkpoint } from '../store/checkpoints.ts';

export type ManifestCheckpoint = ExportManifest['checkpoints'][number];

/**
 * The export's only use of the store's checkpoints, kept in one place because their format may change.
 * One per run: `checkpoints.jsonl` grows by one record a minute while events arrive (half a million a
 * year), so it is read once from the start and then only from where the last chunk stopped (the file is
 * append-only while the daemon runs). Records below the run's first seq are not kept.
 */
export class ExportCheckpoints {
  private readonly path: string;
  private readonly fromSeq: number;
  private offset = 0;
  private kept: Checkpoint[] = [];

  constructor(home: string, fromSeq: number) {
    this.path = join(home, CHECKPOINTS_FILE);
    this.fromSeq = fromSeq;
  }

  /**
   * Signs a checkpoint at the range's last entry (so the range is always covered) unless one is there, and
   * returns every signed checkpoint or anchor inside `[fromSeq, toSeq]`, oldest first, whole records (the
   * signature covers every field; chained records carry `n` and `prev`).
   */
  async forRange(store: AuditStore, fromSeq: number, toSeq: number, lastHash: string): Promise<ManifestCheckpoint[]> {
    await this.readNew();
    if (!this.kept.some((c) => c.type === 'checkpoint' && c.seq === toSeq && c.hash === lastHash)) {
      await store.signCheckpointAt(toSeq, lastHash);
      await this.readNew();
    }
    const seen = new Set<string>();
    const inRange = this.kept
      .filter((c) => c.seq >= fromSeq && c.seq <= toSeq)
      .filter((c) => {
        const key = `${c.type}:${c.seq}:${c.key_id}`;
        if (seen.has(key)) return false;
        seen.add(key);
        return true;
      })
      .sort((a, b) => a.seq - b.seq);
    // Later chunks start after this one: what they cannot use is dropped.
    this.kept = this.kept.filter((c) => c.seq > toSeq);
    return inRange;
  }

  /** Parses the records appended since the last call (whole lines only). */
  private async readNew(): Promise<void> {
    let handle;
    try {
      handle = await open(this.path, 'r');
    } catch (error: unknown) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    try {
      const size = (await handle.stat()).size;
      // Shorter than what was read: cut back at a start (a torn record), so read it all again.
      if (size < this.offset) {
        this.offset = 0;
        this.kept = [];
      }
      if (size === this.offset) return;
      const bytes = Buffer.allocUnsafe(size - this.offset);
      const { bytesRead } = await handle.read(bytes, 0, bytes.length, this.offset);
      const end = bytes.subarray(0, bytesRead).lastIndexOf(10) + 1;
      for (const line of bytes.subarray(0, end).toString('utf8').split('\n')) {
        const record = parseRecord(line);
        if (record !== null && record.seq >= this.fromSeq) this.kept.push(record);
      }
      this.offset += end;
    } finally {
      await handle.close();
    }
  }
}

/** A checkpoint record, or null for anything else (verify reports malformed lines; the export skips them). */
function parseRecord(line: string): Checkpoint | null {
  if (line === '') return null;
  try {
    const value = JSON.parse(line) as Partial<Checkpoint> | null;
    const fine =
      value !== null &&
      typeof value === 'object' &&
      (value.type === 'checkpoint' || value.type === 'anchor' || value.type === 'repair') &&
      typeof value.seq === 'number' &&
      typeof value.hash === 'string' &&
      typeof value.key_id === 'string' &&
      typeof value.sig === 'string';
    return fine ? (value as Checkpoint) : null;
  } catch {
    return null;
  }
}
