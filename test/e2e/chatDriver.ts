// What the chat end-to-end tests share: the chat webview's selectors, typing a prompt, attaching a file
// through the editor's own file dialog, and reading the audit store with the CLI.

import assert from 'node:assert/strict';
import type { FrameLocator, Page } from 'playwright-core';
import { readDiscovery } from '../../daemon/client/daemonDiscovery.ts';
import type { Entry } from '../../daemon/protocol/entry.ts';
import { runCliProcess } from '../support/daemonProcess.ts';

/** Selectors of the chat webview (webview/chat). */
export const ui = {
  composer: 'textarea#composer',
  composerError: '#composer-error',
  send: '#send',
  hint: '.hint',
  scannerLabel: '.scanner-label',
  model: 'select#model',
  answerShown: '.answer[data-status="shown"]',
  blocked: '.message[data-decision="blocked"]',
  attachmentChip: (name: string) => `.attachment:has-text(${JSON.stringify(name)})`,
  auditSeq: '.audit-seq',
};

export async function send(frame: FrameLocator, text: string): Promise<void> {
  const composer = frame.locator(ui.composer);
  await composer.fill(text);
  await composer.press('Enter');
}

/** Attaches `path` with the attach button, which opens the editor's simple file dialog. */
export async function attach(page: Page, frame: FrameLocator, path: string, folder: string): Promise<void> {
  await frame.locator('#attach').click();
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ timeout: 15_000 });
  // The dialog fills in the folder itself, asynchronously: wait for that first, so that it cannot
  // overwrite the path typed next.
  await page.waitForFunction(
    (dir) => (document.querySelector('.quick-input-widget input') as HTMLInputElement | null)?.value.includes(dir) === true,
    folder,
    { timeout: 15_000 },
  );
  // It may also refill the folder once more while its list loads: type, let it settle, check, and only
  // then accept; if the dialog stays open, it reset the path, so type it again.
  let accepted = false;
  for (let attempt = 1; attempt <= 4 && !accepted; attempt++) {
    await input.fill(path);
    await page.waitForTimeout(300);
    if ((await input.inputValue()) !== path) continue;
    await input.press('Enter');
    accepted = await input
      .waitFor({ state: 'hidden', timeout: 5_000 })
      .then(() => true)
      .catch(() => false);
  }
  assert.ok(accepted, `the file dialog did not accept ${path}`);
}

/** Every entry of the store, oldest first. */
export async function allEntries(home: string, env: NodeJS.ProcessEnv): Promise<Entry[]> {
  const result = await runCliProcess(['query', '--all', '--home', home], { env });
  assert.equal(result.code, 0, result.stderr);
  return result.stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Entry)
    .reverse();
}

/**
 * A mark in the store: the entries a test wrote are the ones after it. Tests of one suite share a store,
 * and each checks only its own entries, so that a failure names one behaviour.
 */
export async function storeMark(home: string, env: NodeJS.ProcessEnv): Promise<number> {
  return (await allEntries(home, env)).at(-1)?.seq ?? 0;
}

/** Waits until at least `count` entries follow `mark` (the outbox sends them in the background). */
export async function entriesAfter(home: string, env: NodeJS.ProcessEnv, mark: number, count: number, timeoutMs = 60_000): Promise<Entry[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const entries = (await allEntries(home, env)).filter((e) => e.seq > mark && !e.kind.startsWith('audit.'));
    if (entries.length >= count || Date.now() > deadline) return entries;
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
}

/** Kills whatever daemon serves `home` (one the extension started), at the end of a suite. */
export async function killDaemonOf(home: string): Promise<void> {
  const found = await readDiscovery(home);
  if (found === null) return;
  try {
    process.kill(found.discovery.pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}
