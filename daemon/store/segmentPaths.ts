import { readdir } from 'node:fs/promises';
import { join } from 'node:path';

/** Layout of the entries folder: `entries/YYYY/MM/DD/NNNNNN.jsonl` plus `NNNNNN.summary.json`. */
export const ENTRIES_DIR = 'entries';
const SEGMENT_RE = /^(\d{6,})\.jsonl$/;

/** Relative path of segment `n` opened on the UTC day of `recordedIso`. */
export function segmentFile(n: number, recordedIso: string): string {
  const [year, month, day] = recordedIso.slice(0, 10).split('-');
  return join(ENTRIES_DIR, year ?? '0000', month ?? '00', day ?? '00', `${String(n).padStart(6, '0')}.jsonl`);
}

export function summaryFileOf(segmentRelPath: string): string {
  return segmentRelPath.replace(/\.jsonl$/, '.summary.json');
}

export interface SegmentLocation {
  segment: number;
  file: string;
}

/** Every segment below `home/entries`, in segment order. Unknown files are ignored. */
export async function listSegments(home: string): Promise<SegmentLocation[]> {
  const found: SegmentLocation[] = [];
  const walk = async (rel: string, depth: number): Promise<void> => {
    let names: string[];
    try {
      names = await readdir(join(home, rel));
    } catch (error: unknown) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    for (const name of names) {
      if (depth < 3) {
        if (/^\d+$/.test(name)) await walk(join(rel, name), depth + 1);
        continue;
      }
      const match = SEGMENT_RE.exec(name);
      if (match?.[1] !== undefined) found.push({ segment: Number(match[1]), file: join(rel, name) });
    }
  };
  await walk(ENTRIES_DIR, 0);
  return found.sort((a, b) => a.segment - b.segment);
}
