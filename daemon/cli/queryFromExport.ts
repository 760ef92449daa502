import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { openDestination } from '../export/openDestination.ts';
import { MANIFEST_DIR, MANIFEST_SUFFIX } from '../export/exportLayout.ts';
import type { Entry } from '../protocol/entry.ts';
import type { ExportManifest } from '../protocol/exports.ts';
import type { EntryFilter } from '../protocol/messages.ts';
import { compileFilter } from '../store/entryFilter.ts';
import type { FlagValues } from './cliFlags.ts';
import { writeLine, type CliIo } from './cliIo.ts';
import { destinationFromFlags } from './exportCommands.ts';

/**
 * `query --from LOCATION…`: the same filters and output as the local `query`, over exported entries (a
 * whole team's: several locations). The objects that manifests list are fetched through the destination
 * interface (any backend, read rights needed) into a private temporary folder, and DuckDB reads them —
 * as lines, so that what is printed is the exported line byte for byte. The time range and the manifests'
 * time ranges prune what is fetched; the other filters are the daemon's own filter code.
 */
export async function queryFromExports(locations: string[], filter: EntryFilter, limit: number, values: FlagValues, io: CliIo): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'ai-audit-query-'));
  const sinceMs = filter.since === undefined ? Number.NEGATIVE_INFINITY : Date.parse(filter.since);
  const untilMs = filter.until === undefined ? Number.POSITIVE_INFINITY : Date.parse(filter.until);
  try {
    let files = 0;
    for (const [index, location] of locations.entries()) {
      const destination = await openDestination(destinationFromFlags(location, values));
      try {
        for await (const info of destination.list('')) {
          if (!info.key.endsWith(MANIFEST_SUFFIX) || !(info.key.startsWith(`${MANIFEST_DIR}/`) || info.key.includes(`/${MANIFEST_DIR}/`))) continue;
          const manifest = JSON.parse(Buffer.concat(await (await destination.getObject(info.key)).toArray()).toString('utf8')) as ExportManifest;
          const { min_ts, max_ts } = manifest.time_range;
          if (min_ts === null || max_ts === null || Date.parse(max_ts) < sinceMs || Date.parse(min_ts) >= untilMs) continue;
          for (const object of manifest.objects) {
            const target = join(work, String(index), object.key);
            await mkdir(dirname(target), { recursive: true, mode: 0o700 });
            await writeFile(target, Buffer.concat(await (await destination.getObject(object.key)).toArray()), { mode: 0o600 });
            files++;
          }
        }
      } finally {
        await destination.dispose();
      }
    }
    if (files === 0) return;
    const compiled = compileFilter(filter);
    // Loaded here: a native module that no other command needs.
    const { DuckDBInstance } = await import('@duckdb/node-api');
    const instance = await DuckDBInstance.create(':memory:');
    const connection = await instance.connect();
    try {
      const glob = join(work, '**', '*.jsonl*').replaceAll("'", "''");
      // One VARCHAR column per line (no \x01 or quoting in canonical JSON lines); DISTINCT drops an entry
      // exported twice to one place (two one-time exports).
      const sql =
        `SELECT line FROM (SELECT DISTINCT line FROM read_csv('${glob}', columns = {'line': 'VARCHAR'}, delim = '\\x01', quote = '', escape = '', header = false, auto_detect = false)` +
        ` WHERE line <> ''` +
        (Number.isFinite(sinceMs) ? ` AND CAST(json_extract_string(line, '$.ts') AS TIMESTAMPTZ) >= CAST('${new Date(sinceMs).toISOString()}' AS TIMESTAMPTZ)` : '') +
        (Number.isFinite(untilMs) ? ` AND CAST(json_extract_string(line, '$.ts') AS TIMESTAMPTZ) < CAST('${new Date(untilMs).toISOString()}' AS TIMESTAMPTZ)` : '') +
        `) ORDER BY CAST(json_extract(line, '$.seq') AS BIGINT) DESC, json_extract_string(line, '$.ts') DESC`;
      const result = await connection.stream(sql);
      let printed = 0;
      for await (const rows of result.yieldRows()) {
        for (const [line] of rows) {
          const text = String(line);
          if (!compiled.matches(JSON.parse(text) as Entry)) continue;
          writeLine(io.stdout, text);
          if (++printed >= limit) return;
        }
      }
    } finally {
      connection.closeSync();
      instance.closeSync();
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
