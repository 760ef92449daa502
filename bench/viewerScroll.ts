// The viewer figure of `npm run bench`: the audit log viewer in a real VS Code (code-server, headless
// Chromium, the .vsix that ships) on a store of 100k entries, scrolled through its first 10k rows while the
// webview counts long tasks (test/e2e/harness/scrollMeasure.ts, the measure the end-to-end test records).
// Target: no long task over 200 ms. A fresh browser each round; the median of the rounds is reported.
// Where code-server cannot be installed (or the run fails) the figure says so instead of failing the bench.
// Run alone after a build: `node scripts/build.mjs && node --import tsx bench/viewerScroll.ts [--rounds=N]`.

import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureCodeServer } from '../scripts/vscode/ensureCodeServer.mjs';
import { hostTarget, packageTarget } from '../scripts/package.mjs';
import { startDaemonProcess } from '../test/support/daemonProcess.ts';
import { tempDir } from '../test/support/tempDir.ts';
import { openAuditLog } from '../test/e2e/harness/auditLogViewer.ts';
import { CleanupStack } from '../test/e2e/harness/cleanupStack.ts';
import { builtVsix } from '../test/e2e/harness/builtExtension.ts';
import { startCodeServer } from '../test/e2e/harness/codeServer.ts';
import { openWorkbench } from '../test/e2e/harness/workbench.ts';
import { measureScroll, type ScrollFigures } from '../test/e2e/harness/scrollMeasure.ts';
import type { Figure } from './benchReport.ts';
import { median } from './benchStats.ts';
import { generateStore } from './generateStore.ts';

const ENTRIES = 100_000;
const SCROLL_ROWS = 10_000;
const DAYS = 14;
const ID = 'viewer-scroll';
const FIGURE = 'viewer: scroll 10k rows of 100k entries';
const TARGET = 'no long task over 200 ms';

export interface ViewerScrollResult {
  figure: Figure;
  notes: string[];
}

/** The figure row of a measure that did not run; `reason` is shown in its value column. */
export function viewerScrollNotRun(reason: string): ViewerScrollResult {
  return { figure: { id: ID, figure: FIGURE, value: reason, compared: '—', result: '—', target: TARGET, met: null }, notes: [] };
}

/** The value column of the figure: medians of the rounds (a median of two rounds can be a fraction). */
function viewerScrollValue(medians: { over200: number; longestMs: number; count: number }): string {
  const tasks = medians.count === 1 ? 'long task' : 'long tasks';
  return `${medians.over200} over 200 ms; longest ${Math.round(medians.longestMs)} ms; ${medians.count} ${tasks}`;
}

/** Opens the viewer in a fresh browser, waits for its first screen, scrolls and closes the browser. */
async function round(url: string, log: (line: string) => void): Promise<{ figures: ScrollFigures; priority: string }> {
  const workbench = await openWorkbench(url);
  try {
    const frame = await openAuditLog(workbench);
    await frame.locator('.row[data-index="0"]:not([data-key="loading"])').waitFor({ timeout: 60_000 });
    const firstSeq = Number(await frame.locator('.row[data-index="0"]').getAttribute('data-key'));
    const { figures, priority } = await measureScroll(frame, workbench.profileDir, SCROLL_ROWS);
    log(`viewer scroll: ${JSON.stringify(figures)} (browser priority ${JSON.stringify(priority)})`);
    // A scroll that stopped short measured less than the figure says.
    if (!figures.supported) throw new Error('the webview reports no long tasks');
    if (Math.abs(firstSeq - figures.lastSeq - SCROLL_ROWS) > 60) throw new Error(`the scroll ended at seq ${figures.lastSeq}, not near row ${SCROLL_ROWS} below seq ${firstSeq}`);
    return { figures, priority: 'skipped' in priority ? `not raised: ${priority.skipped}` : `raised${priority.autogroup ? ' (autogroup too)' : ''}` };
  } finally {
    await workbench.dispose();
  }
}

/** Seeds the store, starts the daemon and code-server once, and measures `rounds` scrolls. */
export async function viewerScroll(options: { rounds: number; log: (line: string) => void }): Promise<ViewerScrollResult> {
  const { log } = options;
  try {
    await ensureCodeServer({ log });
  } catch (error: unknown) {
    return viewerScrollNotRun(`not run: code-server could not be installed (${error instanceof Error ? error.message.split('\n')[0] : String(error)})`);
  }
  const cleanup = new CleanupStack();
  try {
    const target = hostTarget();
    if (target === undefined) return viewerScrollNotRun(`not run: no .vsix target for ${process.platform}-${process.arch}`);
    await packageTarget(target, { log });
    const vsix = await builtVsix();
    const root = await tempDir('bench-viewer');
    cleanup.defer(() => root.dispose());
    const home = join(root.path, 'audit-home');
    const workspace = join(root.path, 'workspace');
    await mkdir(workspace, { recursive: true });
    const env = { AI_AUDIT_HOME: home, AI_AUDIT_MASTER_KEY: randomBytes(32).toString('base64') };
    log(`viewer: generating ${ENTRIES} entries`);
    await generateStore(home, env, ENTRIES, DAYS, Date.now());
    const daemon = await startDaemonProcess(home, env);
    cleanup.defer(() => daemon.kill9());
    const server = await startCodeServer({
      vsixFiles: [vsix],
      extensionDirs: [],
      workspaceFolder: workspace,
      env,
      settings: { 'aiAuditTrail.daemon.autoStart': false },
    });
    cleanup.defer(() => server.dispose());
    const rounds: ScrollFigures[] = [];
    const priorities = new Set<string>();
    for (let i = 0; i < options.rounds; i++) {
      log(`viewer scroll round ${i + 1}/${options.rounds}`);
      const measured = await round(server.url, log);
      rounds.push(measured.figures);
      priorities.add(measured.priority);
    }
    const med = (pick: (f: ScrollFigures) => number): number => median(rounds.map(pick));
    const over200 = med((f) => f.over200);
    const longest = med((f) => f.longestMs);
    const count = med((f) => f.count);
    const perRound = rounds.map((f) => `${f.over200}/${Math.round(f.longestMs)} ms/${f.count}`).join(', ');
    return {
      figure: {
        id: ID,
        figure: FIGURE,
        value: viewerScrollValue({ over200, longestMs: longest, count }),
        compared: '—',
        result: `${over200} over 200 ms`,
        target: TARGET,
        met: over200 === 0,
      },
      notes: [
        `Viewer scroll: code-server + headless Chromium with the packaged extension, a store of ${ENTRIES.toLocaleString('en')} entries (bench/generateStore.ts), the table scrolled a screen at a time through its first ${SCROLL_ROWS.toLocaleString('en')} rows while a PerformanceObserver in the webview counts long tasks (over 50 ms, wall time, of the event loop the webview shares with the workbench). A fresh browser per round, browser priority: ${[...priorities].join('; ')}; medians of ${rounds.length} round(s); per round (over 200 ms / longest / long tasks): ${perRound}.`,
      ],
    };
  } catch (error: unknown) {
    return viewerScrollNotRun(`not run: the run failed (${error instanceof Error ? error.message.split('\n')[0] : String(error)})`);
  } finally {
    await cleanup.dispose();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const roundsArg = process.argv.find((a) => a.startsWith('--rounds='));
  const result = await viewerScroll({ rounds: roundsArg === undefined ? 3 : Number(roundsArg.slice('--rounds='.length)), log: (line) => void process.stderr.write(`[bench] ${line}\n`) });
  console.log(JSON.stringify(result, null, 2));
}
