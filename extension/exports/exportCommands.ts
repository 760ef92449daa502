import * as vscode from 'vscode';
import type { EntryFilter } from '../../daemon/protocol/messages.ts';
import type { DaemonAccess } from '../auditLog/daemonAccess.ts';
import { withDaemon } from '../auditLog/daemonCommand.ts';
import { describeFailure } from '../auditLog/failureAdvice.ts';
import { configureDestination } from './destinationSetup.ts';
import { objectLines, pickExportShape, pickRange, runExport } from './exportRun.ts';
import { manageSchedules } from './scheduleManager.ts';

/** Command ids of the export feature (category "AI Audit Trail" in package.json). */
export const ExportCommands = {
  exportNow: 'aiAuditTrail.exportAuditLog',
  schedules: 'aiAuditTrail.manageExportSchedules',
  destination: 'aiAuditTrail.configureExportDestination',
} as const;

export interface ExportFeature {
  disposables: vscode.Disposable[];
  /** The viewer's **Export…**: the current filter set to a destination picked now. */
  exportFiltered(filter: EntryFilter, report: (text: string) => void): Promise<{ ok: boolean; text: string; objects: string[] }>;
}

/** Registers **Export Audit Log…**, **Manage Export Schedules** and **Configure Export Destination…**. */
export function registerExportCommands(daemon: DaemonAccess, log: (message: string) => void): ExportFeature {
  const disposables = [
    vscode.commands.registerCommand(ExportCommands.exportNow, () =>
      withDaemon(daemon, log, 'The export failed', async (client) => {
        const title = 'Export Audit Log';
        const shape = await pickExportShape(client, title);
        if (shape === undefined) return;
        const filter = await pickRange(title);
        if (filter === undefined) return;
        await runExport(client, shape, filter);
      }),
    ),
    vscode.commands.registerCommand(ExportCommands.schedules, () => withDaemon(daemon, log, 'Could not manage the export schedules', (client) => manageSchedules(client))),
    vscode.commands.registerCommand(ExportCommands.destination, () =>
      withDaemon(daemon, log, 'Could not configure the export destination', async (client) => {
        await configureDestination(client);
      }),
    ),
  ];
  return {
    disposables,
    exportFiltered: async (filter, report) => {
      const client = daemon.client;
      if (client === null) return { ok: false, text: describeFailure('The export failed', new Error('the daemon is not connected')), objects: [] };
      try {
        const shape = await pickExportShape(client, 'Export the filtered entries');
        if (shape === undefined) return { ok: false, text: 'Export cancelled.', objects: [] };
        const run = await runExport(client, shape, filter, report);
        return { ok: run.status === 'succeeded', text: `Exported ${run.rows} entries to ${run.location} (${run.status}):`, objects: objectLines(run) };
      } catch (error: unknown) {
        return { ok: false, text: describeFailure('The export failed', error), objects: [] };
      }
    },
  };
}
