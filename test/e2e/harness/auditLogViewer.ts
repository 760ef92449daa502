// Opening the audit log viewer in the workbench, as the end-to-end test and the viewer-scroll bench both do.

import type { Frame } from 'playwright-core';
import { webviewFrameWith, type Workbench } from './workbench.ts';

/** The table of the viewer (webview/auditLog): its frame is the one that holds it. */
export const AUDIT_TABLE = '#audit-table';
/** The viewer loads its first page from a daemon that may hold 100k entries on a busy machine (ms). */
const OPEN_TIMEOUT_MS = 60_000;

/**
 * Makes room for the viewer (focuses the workbench and closes both side bars, which are open at start),
 * opens it from the palette and returns its frame.
 */
export async function openAuditLog(workbench: Workbench): Promise<Frame> {
  const { page } = workbench;
  await page.locator('.part.statusbar').click({ position: { x: 600, y: 5 } });
  await page.keyboard.press('Control+B');
  await page.keyboard.press('Control+Alt+B');
  await workbench.runCommand('AI Audit Trail: Open Audit Log', { timeoutMs: OPEN_TIMEOUT_MS });
  return webviewFrameWith(page, AUDIT_TABLE, OPEN_TIMEOUT_MS);
}
