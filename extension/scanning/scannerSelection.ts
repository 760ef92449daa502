import { HeuristicScanner } from './heuristicScanner.ts';
import { LakeraScanner } from './lakeraScanner.ts';
import type { Scanner } from './scanner.ts';

export interface ScannerSettings {
  lakeraBaseUrl: string;
  lakeraProjectId: string;
  lakeraTimeoutMs: number;
  secondOpinion: boolean;
}

/**
 * The scanners for one message: Lakera Guard when a key is set (with the local heuristic as a second
 * opinion when `scanning.secondOpinion` is on), else the heuristic alone.
 */
export function selectScanners(lakeraKey: string | undefined, settings: ScannerSettings, heuristic: Scanner = new HeuristicScanner()): Scanner[] {
  if (lakeraKey === undefined) return [heuristic];
  const lakera = new LakeraScanner({
    apiKey: lakeraKey,
    baseUrl: settings.lakeraBaseUrl,
    timeoutMs: settings.lakeraTimeoutMs,
    ...(settings.lakeraProjectId === '' ? {} : { projectId: settings.lakeraProjectId }),
  });
  return settings.secondOpinion ? [lakera, heuristic] : [lakera];
}

/** The panel's line that says which scanners run. */
export function scannerLabel(lakeraKey: string | undefined, settings: Pick<ScannerSettings, 'secondOpinion'>): string {
  if (lakeraKey === undefined) return 'Scanning: local heuristic (no Lakera key set)';
  return settings.secondOpinion ? 'Scanning: Lakera Guard + heuristic' : 'Scanning: Lakera Guard';
}
