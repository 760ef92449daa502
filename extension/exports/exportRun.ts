import * as vscode from 'vscode';
import type { DaemonClient } from '../../daemon/client/daemonClient.ts';
import type { ExportLayout, ExportRun } from '../../daemon/protocol/exports.ts';
import type { EntryFilter } from '../../daemon/protocol/messages.ts';
import { configureDestination } from './destinationSetup.ts';

const NEW_DESTINATION = '$(add) New destination…';

const LAYOUTS: Array<vscode.QuickPickItem & { layout: ExportLayout }> = [
  { label: 'hive', description: '<prefix>/year=YYYY/month=MM/day=DD/… for Athena, DuckDB, Spark', layout: 'hive' },
  { label: 'lakera', description: 'YYYY/MM/DD/hh/<ISO time>.jsonl, as Lakera\'s log export', layout: 'lakera' },
  { label: 'obot', description: '<prefix>/YYYY/MM/DD/<name>-<time>.jsonl, as Obot\'s audit export', layout: 'obot' },
];

const RANGES: Array<vscode.QuickPickItem & { days: number | null }> = [
  { label: 'Last 24 hours', days: 1 },
  { label: 'Last 7 days', days: 7 },
  { label: 'Last 30 days', days: 30 },
  { label: 'Everything in the store', days: null },
];

/** Picks a saved destination, or configures a new one. */
export async function pickDestination(client: DaemonClient, title: string): Promise<string | undefined> {
  const { destinations } = await client.request('destinations.list', {});
  const picked = await vscode.window.showQuickPick(
    [...destinations.map((d) => ({ label: d.name, description: d.location })), { label: NEW_DESTINATION, description: 'S3, S3-compatible, GCS, Azure or a folder' }],
    { title, placeHolder: 'Destination', ignoreFocusOut: true },
  );
  if (picked === undefined) return undefined;
  if (picked.label === NEW_DESTINATION) return configureDestination(client);
  return picked.label;
}

export interface ExportChoice {
  destination: string;
  layout: ExportLayout;
  gzip: boolean;
}

/** Destination, layout and gzip, asked in that order. */
export async function pickExportShape(client: DaemonClient, title: string): Promise<ExportChoice | undefined> {
  const destination = await pickDestination(client, title);
  if (destination === undefined) return undefined;
  const layout = await vscode.window.showQuickPick(LAYOUTS, { title, placeHolder: 'Layout of the objects', ignoreFocusOut: true });
  if (layout === undefined) return undefined;
  const gzip = await vscode.window.showQuickPick(['JSONL', 'JSONL, gzip-compressed'], { title, placeHolder: 'Compression', ignoreFocusOut: true });
  if (gzip === undefined) return undefined;
  return { destination, layout: layout.layout, gzip: gzip !== 'JSONL' };
}

/** A time range for the palette's export (the viewer passes its own filter instead). */
export async function pickRange(title: string, now = Date.now()): Promise<EntryFilter | undefined> {
  const range = await vscode.window.showQuickPick(RANGES, { title, placeHolder: 'Time range', ignoreFocusOut: true });
  if (range === undefined) return undefined;
  return range.days === null ? {} : { since: new Date(now - range.days * 86_400_000).toISOString() };
}

/** One line per object written, for the result message and the viewer. */
export function objectLines(run: ExportRun): string[] {
  const lines = run.objects.map((o) => `${o.key} (${o.rows} rows, ${o.bytes} bytes)`);
  if (run.objects_total > run.objects.length) lines.push(`… and ${run.objects_total - run.objects.length} more`);
  return lines;
}

/**
 * Runs a one-time export with a cancellable progress notification (the daemon's `export.progress`;
 * Cancel sends `export.cancel`), then shows where it went, with the location copyable.
 */
export async function runExport(client: DaemonClient, shape: ExportChoice, filter: EntryFilter, report?: (text: string) => void): Promise<ExportRun> {
  const run = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `Exporting the audit log to ${shape.destination}`, cancellable: true },
    async (progress, token) => {
      let runId: string | null = null;
      const sub = client.on('export.progress', (p) => {
        runId ??= p.run_id;
        if (p.run_id !== runId) return;
        const text = `${p.rows} entries, ${p.objects} objects, ${p.bytes} bytes (at #${p.seq})`;
        progress.report({ message: text });
        report?.(`Exporting… ${text}`);
      });
      const cancel = token.onCancellationRequested(() => {
        if (runId !== null) void client.request('export.cancel', { run_id: runId }).catch(() => undefined);
      });
      try {
        return await client.request('export.run', { destination: shape.destination, layout: shape.layout, gzip: shape.gzip, filter });
      } finally {
        cancel.dispose();
        sub.dispose();
      }
    },
  );
  const summary = `Exported ${run.rows} entries (#${run.seq_from}–#${run.seq_to}) in ${run.objects_total} objects to ${run.location}.`;
  void vscode.window.showInformationMessage(summary, 'Copy Location', 'Show Objects').then(async (choice) => {
    if (choice === 'Copy Location') await vscode.env.clipboard.writeText(run.location);
    if (choice === 'Show Objects') await vscode.window.showQuickPick([...objectLines(run), ...run.manifests.map((m) => `manifest: ${m}`)], { title: summary });
  });
  return run;
}
