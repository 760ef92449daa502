// Opens code-server's workbench in Debian's Chromium, headless, through playwright-core, and offers
// the few gestures the end-to-end tests need. Recipe: /work/shared/recipes/vscode-e2e.md.

import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { chromium, errors, type BrowserContext, type Frame, type FrameLocator, type Locator, type Page } from 'playwright-core';
import { ensureCodeServer } from '../../../scripts/vscode/ensureCodeServer.mjs';
import { CleanupStack, type AsyncDisposable } from './cleanupStack.ts';

export interface OpenWorkbenchOptions {
  /** Where `screenshot(name)` puts relative names. Default: the current directory. */
  readonly screenshotsDir?: string;
  /** How long to wait for the workbench to render, in ms. Default 60 000. */
  readonly readyTimeoutMs?: number;
}

export interface WaitOptions {
  /** In ms. Default 15 000. */
  readonly timeoutMs?: number;
}

export interface Workbench extends AsyncDisposable {
  readonly page: Page;
  readonly context: BrowserContext;
  /** Chromium's profile folder for this run (its processes name it on their command line). */
  readonly profileDir: string;
  /** Runs a command by its title as the palette shows it, e.g. `AI Audit Test: Ask Test Model`. */
  runCommand(title: string, options?: WaitOptions): Promise<void>;
  /** The content frame of the visible webview (`iframe.webview` → `iframe#active-frame`). */
  webviewFrame(): FrameLocator;
  /** Texts of the notification toasts currently shown. */
  notificationTexts(): Promise<string[]>;
  /** Waits until a notification toast contains `text`; returns its full text. */
  waitForNotification(text: string | RegExp, options?: WaitOptions): Promise<string>;
  /** Saves a PNG of the page; a relative path is resolved in `screenshotsDir`. Returns the absolute path. */
  screenshot(path: string): Promise<string>;
  /** Closes the browser and removes its profile folder. Idempotent. */
  dispose(): Promise<void>;
}

/**
 * Without the background-networking flags Chromium keeps trying to reach Google services through
 * the closed network; --no-sandbox because tests run as root in containers.
 */
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

const DEFAULT_READY_TIMEOUT_MS = 60_000;
const DEFAULT_WAIT_MS = 15_000;
/** The quick input usually opens within a frame; if F1 reached nothing focusable, try again. */
const PALETTE_OPEN_MS = 3_000;
/** How long one look for a command's row lasts before the palette is reopened (ms). */
const COMMAND_ROW_WAIT_MS = 2_000;

const WORKBENCH_READY = '.monaco-workbench .part.statusbar';
const QUICK_INPUT = '.quick-input-widget';
const QUICK_INPUT_ROW = '.quick-input-list .monaco-list-row';
const NOTIFICATION_TOAST_MESSAGE = '.notifications-toasts .notification-toast .notification-list-item-message';

/**
 * Launches Chromium with a fresh profile (so no state, e.g. `context.secrets` in localStorage,
 * leaks between runs) and opens `url`, resolving once the workbench has rendered its status bar.
 */
export async function openWorkbench(url: string, options: OpenWorkbenchOptions = {}): Promise<Workbench> {
  const { chromiumPath } = await ensureCodeServer();
  const screenshotsDir = options.screenshotsDir ?? process.cwd();

  const cleanup = new CleanupStack();
  try {
    const profileDir = await mkdtemp(join(tmpdir(), 'ai-audit-chromium-'));
    cleanup.defer(() => rm(profileDir, { recursive: true, force: true, maxRetries: 3 }));

    const context = await chromium.launchPersistentContext(profileDir, {
      executablePath: chromiumPath,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1440, height: 900 },
    });
    cleanup.defer(() => context.close());

    const page = context.pages()[0] ?? (await context.newPage());
    // The workbench loads in seconds, but on a busy machine later than playwright's default of 30 s.
    await page.goto(url, { timeout: options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS });
    await page.locator(WORKBENCH_READY).waitFor({ timeout: options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS });

    return {
      page,
      context,
      profileDir,
      runCommand: (title, waitOptions) => runCommand(page, title, waitOptions?.timeoutMs ?? DEFAULT_WAIT_MS),
      webviewFrame: () => visibleWebviewFrame(page),
      notificationTexts: () => page.locator(NOTIFICATION_TOAST_MESSAGE).allInnerTexts(),
      waitForNotification: async (text, waitOptions) => {
        const toast = page.locator(NOTIFICATION_TOAST_MESSAGE).filter({ hasText: text }).first();
        await toast.waitFor({ timeout: waitOptions?.timeoutMs ?? DEFAULT_WAIT_MS });
        return toast.innerText();
      },
      screenshot: async (path) => {
        const target = isAbsolute(path) ? path : join(screenshotsDir, path);
        await mkdir(dirname(target), { recursive: true });
        await page.screenshot({ path: target });
        return target;
      },
      dispose: () => cleanup.dispose(),
    };
  } catch (error: unknown) {
    await cleanup.dispose();
    throw error;
  }
}

async function runCommand(page: Page, title: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const row = page.locator(QUICK_INPUT_ROW).filter({ hasText: title }).first();
  for (;;) {
    await openCommandPalette(page);
    // F1 pre-fills `>`; typing after it filters the commands by title.
    await page.keyboard.type(title);
    const remainingMs = Math.max(1, deadline - Date.now());
    if (await isVisibleWithin(row, Math.min(COMMAND_ROW_WAIT_MS, remainingMs))) break;
    // Extensions' commands join the palette only once the extension host has read their manifests,
    // seconds after the workbench renders: close the palette and ask again.
    await page.keyboard.press('Escape');
    if (Date.now() >= deadline) throw new Error(`runCommand: no command titled "${title}" within ${timeoutMs} ms`);
  }
  // Enter runs the focused row; when the fuzzy filter ranks another command first, click ours.
  const focusedRowMatches = (await page.locator(`${QUICK_INPUT_ROW}.focused`).filter({ hasText: title }).count()) > 0;
  if (focusedRowMatches) await page.keyboard.press('Enter');
  else await row.click();
  // Not "quick input hidden": the command may open a quick pick of its own.
  await row.waitFor({ state: 'hidden', timeout: Math.max(1, deadline - Date.now()) });
}

async function openCommandPalette(page: Page): Promise<void> {
  const quickInput = page.locator(QUICK_INPUT);
  await page.keyboard.press('F1');
  if (await isVisibleWithin(quickInput, PALETTE_OPEN_MS)) return;
  // The key press landed before the workbench had keyboard focus: give it focus and retry once.
  await focusWorkbench(page);
  await page.keyboard.press('F1');
  await quickInput.waitFor({ state: 'visible', timeout: PALETTE_OPEN_MS });
}

/** Clicks the middle of the status bar, which holds no items and so triggers nothing. */
async function focusWorkbench(page: Page): Promise<void> {
  const statusbar = page.locator(WORKBENCH_READY);
  const box = await statusbar.boundingBox();
  if (box) await statusbar.click({ position: { x: box.width / 2, y: box.height / 2 } });
}

async function isVisibleWithin(locator: Locator, timeoutMs: number): Promise<boolean> {
  try {
    await locator.waitFor({ state: 'visible', timeout: timeoutMs });
    return true;
  } catch (error: unknown) {
    if (error instanceof errors.TimeoutError) return false;
    throw error;
  }
}

/**
 * VS Code keeps hidden webviews' iframes in the DOM (with `visibility: hidden`); the visible one is
 * the active webview. Its content lives in a nested `iframe#active-frame`.
 */
function visibleWebviewFrame(page: Page): FrameLocator {
  return page
    .locator('iframe.webview')
    .filter({ visible: true })
    .first()
    .contentFrame()
    .locator('iframe#active-frame')
    .contentFrame();
}

/**
 * The webview frame that holds `selector` (several webviews can be visible side by side), as a `Frame` for
 * `evaluate`; waits up to `timeoutMs` (ms) for it to appear.
 */
export async function webviewFrameWith(page: Page, selector: string, timeoutMs: number): Promise<Frame> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const frame of page.frames()) {
      if (await frame.$(selector).catch(() => null)) {
        // tsx compiles functions passed to evaluate with esbuild's keepNames helper: give the page one.
        await frame.evaluate('globalThis.__name ??= (f) => f');
        return frame;
      }
    }
    if (Date.now() > deadline) throw new Error(`no webview with ${selector}`);
    await page.waitForTimeout(250);
  }
}
