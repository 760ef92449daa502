import type { ExportManifest } from '../protocol/exports.ts';
import type { AuditStore } from '../store/auditStore.ts';
import { readCheckpoints } from '../store/checkpoints.ts';

export type ManifestCheckpoint = ExportManifest['checkpoints'][number];

/**
 * The export's only use of the store's checkpoints, kept in one place because their format may change:
 * signs one at the range's last entry (so the range is always covered) and returns every signed
 * checkpoint or anchor inside `[fromSeq, toSeq]`, oldest first.
 */
export async function checkpointsForRange(store: AuditStore, home: string, fromSeq: number, toSeq: number, lastHash: string): Promise<ManifestCheckpoint[]> {
  const { checkpoints } = await readCheckpoints(home);
  if (!checkpoints.some((c) => c.type === 'checkpoint' && c.seq === toSeq && c.hash === lastHash)) {
    await store.signCheckpointAt(toSeq, lastHash);
  }
  const after = await readCheckpoints(home);
  const seen = new Set<string>();
  return after.checkpoints
    .filter((c) => c.seq >= fromSeq && c.seq <= toSeq)
    .filter((c) => {
      const key = `${c.type}:${c.seq}:${c.key_id}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    })
    .sort((a, b) => a.seq - b.seq)
    .map(({ type, seq, hash, ts, key_id, sig }) => ({ type, seq, hash, ts, key_id, sig }));
}
