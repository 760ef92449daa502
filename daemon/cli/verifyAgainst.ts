import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DaemonClient } from '../client/daemonClient.ts';
import { manifestKeyTail, type ExportVerifyReport } from '../export/verifyExport.ts';
import { AuditError, ErrorCodes } from '../protocol/errors.ts';
import type { Schedule } from '../protocol/exports.ts';
import { STATE_FILE } from '../state/daemonState.ts';
import { readCheckpoints } from '../store/checkpoints.ts';
import { listSegments } from '../store/segmentPaths.ts';
import { readLinesForward } from '../store/segmentReader.ts';
import { ExitCode } from './cliErrors.ts';
import type { CommandInput } from './cliCommands.ts';
import { writeLine, type CliIo } from './cliIo.ts';
import { verifyLocation } from './exportCommands.ts';

/** Hashes of the wanted seqs in the local store's files (when no daemon runs). */
async function localHashes(home: string, wanted: Set<number>): Promise<Map<number, string>> {
  const found = new Map<number, string>();
  for (const { file } of await listSegments(home)) {
    for await (const line of readLinesForward(join(home, file))) {
      const match = /"seq":(\d+)/.exec(line.text);
      if (match === null || !wanted.has(Number(match[1]))) continue;
      try {
        const entry = JSON.parse(line.text) as { seq: number; hash: string };
        found.set(entry.seq, entry.hash);
      } catch {
        // An unparseable line is verify's finding, not this check's.
      }
    }
  }
  return found;
}

/**
 * What the local state says each schedule wrote to this location: its newest manifest (key and SHA-256, the
 * watermark's commit). For a schedule with manifests here, that manifest must be here with those bytes:
 * otherwise the export's newest manifests (and their objects) were deleted or replaced, which the export
 * alone cannot show. A schedule with no manifest here exports elsewhere (or lost its whole chain): skipped.
 */
async function scheduleFailures(home: string, report: ExportVerifyReport): Promise<string[]> {
  let schedules: Schedule[] = [];
  try {
    const state = JSON.parse(await readFile(join(home, STATE_FILE), 'utf8')) as { exports?: { schedules?: Schedule[] } };
    schedules = state.exports?.schedules ?? [];
  } catch {
    // No state (never exported) or an unreadable one (the daemon refuses it and says so): nothing to compare.
  }
  const failures: string[] = [];
  for (const schedule of schedules) {
    const last = schedule.last_manifest;
    const chain = report.chains.find((c) => c.chain === schedule.name);
    if (last === null || chain === undefined) continue;
    const found = report.manifest_sha256[manifestKeyTail(last.key)];
    if (found === undefined) {
      failures.push(
        `schedule ${schedule.name} exported up to seq ${schedule.watermark_seq} (its newest manifest ${last.key}), but that manifest is not here and the manifests of ${schedule.name} end at seq ${chain.seq_to}: the newest were deleted`,
      );
    } else if (found !== last.sha256) {
      failures.push(`schedule ${schedule.name}'s newest manifest ${last.key} differs from the one it wrote: it was replaced`);
    }
  }
  return failures;
}

/**
 * `verify --against LOCATION`: every signed checkpoint in the export's manifests must name an entry of the
 * local chain with the same hash. An export is a witness: it catches a local store whose newest entries
 * were cut off together with their checkpoints, which the local files alone cannot reveal.
 */
export async function verifyAgainst(home: string, location: string, values: CommandInput['values'], io: CliIo, client: DaemonClient | null): Promise<ExitCode> {
  const report = await verifyLocation(location, values);
  for (const problem of report.problems) writeLine(io.stderr, `note: the export itself: ${problem.code}: ${problem.message}`);
  const bySeq = new Map(report.checkpoints.map((c) => [c.seq, c]));
  if (bySeq.size === 0) {
    writeLine(io.stdout, `FAILED: ${location} holds no signed checkpoint to compare with`);
    return ExitCode.Problem;
  }
  let local: Map<number, string>;
  if (client !== null) {
    local = new Map();
    for (const seq of bySeq.keys()) {
      try {
        local.set(seq, (await client.request('get', { seq })).entry.hash);
      } catch (error: unknown) {
        if (!(error instanceof AuditError) || error.code !== ErrorCodes.NotFound) throw error;
      }
    }
  } else {
    local = await localHashes(home, new Set(bySeq.keys()));
  }
  const newest = Math.max(...bySeq.keys());
  // Retention drops entries under a signed anchor (checked by the local verify that ran first): it vouches
  // that the chain went past them, as with `verify --expect`. Only its own seq can still be compared.
  const anchor = (await readCheckpoints(home)).checkpoints.filter((c) => c.type === 'anchor').reduce<{ seq: number; hash: string } | null>((a, c) => (a === null || c.seq > a.seq ? c : a), null);
  const failures: string[] = [];
  for (const checkpoint of [...bySeq.values()].sort((a, b) => a.seq - b.seq)) {
    const hash = local.get(checkpoint.seq) ?? (anchor !== null && checkpoint.seq === anchor.seq ? anchor.hash : undefined);
    if (hash === undefined) {
      if (anchor !== null && checkpoint.seq < anchor.seq) continue;
      // Above the local end (or below its start without an anchor): a cut-off store.
      failures.push(`the export holds a signed checkpoint of seq ${checkpoint.seq} (${checkpoint.ts}) that the local store lacks`);
    } else if (hash !== checkpoint.hash) {
      failures.push(`the export's signed checkpoint says seq ${checkpoint.seq} had another hash than the local entry: the local chain was rewritten`);
    }
  }
  const deleted = await scheduleFailures(home, report);
  for (const failure of deleted) writeLine(io.stdout, `FAILED: ${failure}`);
  if (failures.length > 0) {
    for (const failure of failures.slice(0, 20)) writeLine(io.stdout, `FAILED: ${failure}`);
    writeLine(io.stdout, `the local store does not contain what ${location} saw up to seq ${newest}: entries were cut off or rewritten`);
    return ExitCode.Problem;
  }
  if (deleted.length > 0) return ExitCode.Problem;
  writeLine(io.stdout, `ok: the local chain contains all ${bySeq.size} signed checkpoints of ${location} (up to seq ${newest})`);
  return ExitCode.Ok;
}
