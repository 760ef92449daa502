// The audit log viewer's scroll measure, shared by the end-to-end test (which checks that the scroll reaches
// its row and stays virtualized) and `npm run bench` (which judges the long-task target): the table is
// scrolled a screen at a time through its first `rows` rows while a PerformanceObserver in the webview counts
// long tasks. Long tasks are wall time: on a machine whose other processes keep both cores busy a 20 ms frame
// waits its turn for hundreds of ms, so the browser gets a higher priority first (see browserPriority.ts).

import type { Frame } from 'playwright-core';
import { raiseBrowserPriority } from './browserPriority.ts';

/** Height of one table row in px (webview/auditLog's virtual list). */
const ROW_PX = 24;

export interface ScrollFigures {
  /** Whether the webview's browser reports long tasks at all. */
  supported: boolean;
  /** Long tasks (over 50 ms) of the webview's event loop, which it shares with the workbench's frames. */
  count: number;
  longestMs: number;
  over200: number;
  /** The same for the viewer's own script only (`task.name === 'self'`). */
  selfCount: number;
  selfLongestMs: number;
  selfOver200: number;
  elapsedMs: number;
  /** Frames spent waiting for rows still loading. */
  waitedFrames: number;
  /** Seq of the top row on screen at the end. */
  lastSeq: number;
  /** Row elements in the DOM at the end (virtualization keeps this small). */
  domRows: number;
}

export interface ScrollMeasure {
  /** How the browser's priority was raised, or why it was not. */
  priority: Awaited<ReturnType<typeof raiseBrowserPriority>>;
  figures: ScrollFigures;
}

/** Scrolls the audit table in `frame` through its first `rows` rows; `profileDir` names the run's Chromium. */
export async function measureScroll(frame: Frame, profileDir: string, rows: number): Promise<ScrollMeasure> {
  const priority = await raiseBrowserPriority(profileDir);
  // tsx compiles functions passed to evaluate with esbuild's keepNames helper: give the page one.
  await frame.evaluate('globalThis.__name ??= (f) => f');
  const figures = await frame.evaluate(
    async ([rowCount, rowPx]: [number, number]) => {
      // `self`: the viewer's own script; other names are tasks of frames sharing its event loop (the workbench).
      const observed = { supported: PerformanceObserver.supportedEntryTypes.includes('longtask'), count: 0, longestMs: 0, over200: 0, selfCount: 0, selfLongestMs: 0, selfOver200: 0 };
      const observer = new PerformanceObserver((list) => {
        for (const task of list.getEntries()) {
          observed.count++;
          observed.longestMs = Math.max(observed.longestMs, task.duration);
          if (task.duration > 200) observed.over200++;
          if (task.name === 'self') {
            observed.selfCount++;
            observed.selfLongestMs = Math.max(observed.selfLongestMs, task.duration);
            if (task.duration > 200) observed.selfOver200++;
          }
        }
      });
      observer.observe({ type: 'longtask' });
      const viewport = document.querySelector('#audit-table') as HTMLElement;
      const frameDone = () => new Promise((resolve) => requestAnimationFrame(() => resolve(undefined)));
      const started = performance.now();
      const step = viewport.clientHeight;
      let waitedFrames = 0;
      while (viewport.scrollTop + viewport.clientHeight < rowCount * rowPx) {
        viewport.scrollTop += step;
        await frameDone();
        // Wait until the rows on screen are loaded (a page fetch may be under way).
        for (let i = 0; i < 600; i++) {
          const first = Math.floor(viewport.scrollTop / rowPx);
          const row = document.querySelector<HTMLElement>(`.row[data-index="${first}"]`);
          if (row !== null && row.dataset.key !== 'loading') break;
          waitedFrames++;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
      observer.disconnect();
      const last = document.querySelector<HTMLElement>(`.row[data-index="${Math.floor(viewport.scrollTop / rowPx)}"]`)?.dataset.key;
      return { ...observed, elapsedMs: Math.round(performance.now() - started), waitedFrames, lastSeq: Number(last), domRows: document.querySelectorAll('.row').length };
    },
    [rows, ROW_PX] as [number, number],
  );
  return { priority, figures };
}
