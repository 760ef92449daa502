// What a new user meets, end to end in a real VS Code: the extension activates at startup and starts
// the daemon itself (auto-start on, the default); there is no model yet, so a prompt must not be lost;
// "Configure Model Endpoint" from F1 tries the endpoint and reaches the open panel; settings and secrets
// changed while the panel is open reach it at once. Model endpoints and Lakera are remote services:
// local fakes follow their contracts.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FrameLocator, Page } from 'playwright-core';
import { discoveryAlive, readDiscovery } from '../../daemon/client/daemonDiscovery.ts';
import { startFakeLakera, type FakeLakera } from '../support/fakeLakeraServer.ts';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fakeOpenAiServer.ts';
import { filesUnder } from '../support/filesUnder.ts';
import { entriesAfter, killDaemonOf, send, storeMark, ui } from './chatDriver.ts';
import { builtVsix } from './harness/builtExtension.ts';
import { CleanupStack } from './harness/cleanupStack.ts';
import { startCodeServer, type CodeServer } from './harness/codeServer.ts';
import { openWorkbench, type Workbench } from './harness/workbench.ts';

const SUITE_TIMEOUT_MS = 10 * 60_000;
const STEP_MS = 30_000;
const ENDPOINT_KEY = `sk-endpoint-e2e-${randomBytes(6).toString('hex')}`;
const LAKERA_KEY = `sk-lakera-e2e-${randomBytes(6).toString('hex')}`;
const KEPT_PROMPT = 'what does the audit trail keep?';

describe('first run of the extension in a real VS Code', { timeout: SUITE_TIMEOUT_MS }, () => {
  const cleanup = new CleanupStack();
  let home: string;
  let env: Record<string, string>;
  let endpoint: FakeOpenAi;
  let lakera: FakeLakera;
  let server: CodeServer;
  let workbench: Workbench;
  let page: Page;
  let chat: FrameLocator;

  const quickInput = () => page.locator('.quick-input-widget input');
  const pick = async (label: string) => {
    const row = page.locator('.quick-input-list .monaco-list-row', { hasText: label }).first();
    await row.waitFor({ timeout: STEP_MS });
    await row.click();
  };
  const typeAndEnter = async (text: string) => {
    await quickInput().waitFor({ timeout: STEP_MS });
    await quickInput().fill(text);
    await quickInput().press('Enter');
  };
  /** VS Code's logs, which hold the extension's output channel ("AI Audit Trail.log"). */
  const extensionLog = async (): Promise<string> => {
    const files = await filesUnder(server.logsDir);
    return (await Promise.all(files.map((file) => readFile(file, 'utf8').catch(() => '')))).join('\n');
  };
  /** Sets `aiAuditTrail.daemon.autoStart` as a user does: its checkbox in the Settings editor. */
  const setAutoStartInSettingsUi = async (on: boolean) => {
    await workbench.runCommand('Preferences: Open Settings (UI)', { timeoutMs: 2 * STEP_MS });
    // The settings editor may be open twice (another editor group): use the visible one.
    const editor = page.locator('.settings-editor').filter({ visible: true }).first();
    const search = editor.locator('.settings-header .suggest-input-container');
    await search.waitFor({ timeout: STEP_MS });
    await search.click();
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.type('aiAuditTrail.daemon.autoStart');
    const checkbox = editor.locator('.setting-item-bool', { hasText: 'Start the bundled audit daemon' }).locator('[role="checkbox"]').first();
    await checkbox.waitFor({ timeout: STEP_MS });
    const deadline = Date.now() + STEP_MS;
    while ((await checkbox.getAttribute('aria-checked')) !== String(on)) {
      assert.ok(Date.now() < deadline, `the autoStart checkbox did not become ${String(on)}`);
      await checkbox.click();
      await page.waitForTimeout(500);
    }
    // The Settings editor opens as a modal editor, which blocks the workbench until it is closed.
    // Escape in the search box clears it first, and a loaded machine is slow to close: move the focus to the
    // editor's body, then press Escape until the modal is gone (bounded).
    const modal = page.locator('.monaco-modal-editor-block');
    for (let i = 0; i < 10 && (await modal.filter({ visible: true }).count()) > 0; i++) {
      await editor.locator('.settings-body').click({ position: { x: 5, y: 5 }, timeout: 2_000 }).catch(() => undefined);
      await page.keyboard.press('Escape');
      await modal.first().waitFor({ state: 'hidden', timeout: 1_500 }).catch(() => undefined);
    }
    await modal.first().waitFor({ state: 'hidden', timeout: STEP_MS }).catch(() => undefined);
    assert.equal(await modal.filter({ visible: true }).count(), 0, 'the Settings editor closed');
  };

  before(async () => {
    const root = await mkdtemp(join(tmpdir(), 'ai-audit-e2e-first-'));
    cleanup.defer(() => rm(root, { recursive: true, force: true }));
    home = join(root, 'audit-home');
    const workspace = join(root, 'workspace');
    await mkdir(workspace, { recursive: true });
    env = { AI_AUDIT_HOME: home, AI_AUDIT_MASTER_KEY: randomBytes(32).toString('base64') };
    // The daemon the extension starts must go at the end.
    cleanup.defer(() => killDaemonOf(home));
    endpoint = await startFakeOpenAi({ apiKey: ENDPOINT_KEY });
    cleanup.defer(() => endpoint.dispose());
    lakera = await startFakeLakera({ apiKey: LAKERA_KEY });
    cleanup.defer(() => lakera.dispose());
    // No test model extension: no model exists until an endpoint is configured. Auto-start is on (default).
    server = await startCodeServer({
      vsixFiles: [await builtVsix()],
      extensionDirs: [],
      workspaceFolder: workspace,
      env,
      settings: { 'aiAuditTrail.lakera.baseUrl': lakera.url },
    });
    cleanup.defer(() => server.dispose());
    workbench = await openWorkbench(server.url, { screenshotsDir: process.env.AI_AUDIT_E2E_ARTIFACTS ?? join(root, 'screenshots') });
    cleanup.defer(() => workbench.dispose());
    page = workbench.page;
  });
  after(async () => {
    await cleanup.dispose();
  });

  test('at startup, before any command, the status bar shows the audit state and the daemon was started', async () => {
    await page.locator('.statusbar-item:has-text("Audit: 0 blocked today")').waitFor({ timeout: 60_000 });
    const found = await readDiscovery(home);
    assert.ok(found !== null && discoveryAlive(found.discovery), 'the extension started a daemon for the data dir');
    // zod's navigator probe was reported by the extension host at every activation.
    const logs = await extensionLog();
    assert.ok(logs.includes('connected to the audit daemon'), 'the logs hold the extension host output');
    assert.ok(!logs.includes('PendingMigrationError'), 'no PendingMigrationError in the editor logs');
  });

  test('a prompt sent while no model is available stays in the composer, with what to do', async () => {
    await workbench.runCommand('AI Audit Trail: Open Chat', { timeoutMs: STEP_MS });
    chat = workbench.webviewFrame();
    await chat.locator(ui.hint, { hasText: 'No chat model is available' }).waitFor({ timeout: STEP_MS });
    await send(chat, KEPT_PROMPT);
    await chat.locator('.notice-error', { hasText: 'Not sent' }).waitFor({ timeout: STEP_MS });
    assert.equal(await chat.locator(ui.composer).inputValue(), KEPT_PROMPT);
  });

  test('Configure Model Endpoint from F1 lists the models, confirms, and reaches the open panel at once', async () => {
    const mark = await storeMark(home, env);
    await workbench.runCommand('AI Audit Trail: Configure Model Endpoint', { timeoutMs: STEP_MS });
    await typeAndEnter(endpoint.url);
    await pick('Set the API key now');
    await typeAndEnter(ENDPOINT_KEY);
    // The endpoint is tried: GET /v1/models with the key, and its models offered.
    await pick('echo-2');
    const confirmation = await workbench.waitForNotification('Model endpoint configured', { timeoutMs: STEP_MS });
    assert.match(confirmation, /echo-2 at 127\.0\.0\.1:\d+, one of 2 models listed/);
    const listed = endpoint.requests.filter((r) => r.method === 'GET' && r.url === '/v1/models');
    assert.equal(listed.length, 1);
    assert.equal(listed[0]?.headers.authorization, `Bearer ${ENDPOINT_KEY}`);
    // The open panel shows the model without its own button being pressed; the kept prompt is sent.
    await chat.locator(ui.hint).waitFor({ state: 'hidden', timeout: STEP_MS });
    await chat.locator(`${ui.model} option`, { hasText: 'echo-2' }).waitFor({ state: 'attached', timeout: STEP_MS });
    await chat.locator(ui.composer).press('Enter');
    await chat.locator(ui.answerShown, { hasText: `Echo: ${KEPT_PROMPT}` }).waitFor({ timeout: STEP_MS });
    assert.equal(await chat.locator(ui.composer).inputValue(), '', 'cleared once the prompt was taken');
    const entries = await entriesAfter(home, env, mark, 2);
    assert.deepEqual(entries.map((e) => [e.kind, e.decision, e.model]), [['chat.input', 'allowed', 'echo-2'], ['chat.output', 'allowed', 'echo-2']]);
    const settings = await readFile(join(server.userDataDir, 'User', 'settings.json'), 'utf8');
    assert.ok(!settings.includes(ENDPOINT_KEY), 'the key is not in the settings');
  });

  test('a model HTTP error is shown and is one audit entry (decision error)', async () => {
    const mark = await storeMark(home, env);
    endpoint.setMode('http500');
    try {
      await send(chat, 'this one fails');
      await chat.locator('.answer[data-status="failed"]', { hasText: 'The model failed' }).waitFor({ timeout: STEP_MS });
    } finally {
      endpoint.setMode('normal');
    }
    const entries = await entriesAfter(home, env, mark, 2);
    assert.deepEqual(entries.map((e) => [e.kind, e.decision, e.metadata?.error_code]), [['chat.input', 'allowed', undefined], ['chat.output', 'error', 'http_5xx']]);
    assert.match(entries[1]?.reason ?? '', /^The model failed: /);
  });

  test('a Lakera key set while the panel is open changes its scanning line at once; the toast says where the key is', async () => {
    await chat.locator(ui.scannerLabel, { hasText: 'local heuristic (no Lakera key set)' }).waitFor({ timeout: STEP_MS });
    await workbench.runCommand('AI Audit Trail: Set Lakera Guard API Key', { timeoutMs: STEP_MS });
    await typeAndEnter(LAKERA_KEY);
    await workbench.waitForNotification("the browser's local storage", { timeoutMs: STEP_MS });
    await chat.locator(ui.scannerLabel, { hasText: 'Scanning: Lakera Guard + heuristic' }).waitFor({ timeout: STEP_MS });
  });

  test('daemon.autoStart turned on in the Settings UI starts the daemon', async () => {
    const switchedOff = (await extensionLog()).split('daemon auto-start is now off').length;
    await setAutoStartInSettingsUi(false);
    // The Settings editor writes the change a moment later: wait until the extension has it.
    const applied = Date.now() + STEP_MS;
    while ((await extensionLog()).split('daemon auto-start is now off').length === switchedOff && Date.now() < applied) {
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    assert.ok((await extensionLog()).split('daemon auto-start is now off').length > switchedOff, 'the extension saw the setting change');
    const running = await readDiscovery(home);
    assert.ok(running !== null);
    const notFound = `no audit daemon runs for ${home}`;
    const before = (await extensionLog()).split(notFound).length;
    process.kill(running.discovery.pid, 'SIGTERM');
    await page.locator('.statusbar-item:has-text("Audit: offline")').waitFor({ timeout: STEP_MS });
    // With auto-start off the extension only looks for a daemon and does not start one: its log says so.
    const restarted = async () => {
      const found = await readDiscovery(home);
      return found !== null && found.discovery.pid !== running.discovery.pid && discoveryAlive(found.discovery);
    };
    const deadline = Date.now() + STEP_MS;
    while ((await extensionLog()).split(notFound).length === before && !(await restarted()) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    assert.equal(await restarted(), false, 'no daemon was started while auto-start was off');
    assert.ok((await extensionLog()).split(notFound).length > before, 'the extension looked for a daemon and did not start one');
    await setAutoStartInSettingsUi(true);
    await page.locator('.statusbar-item:has-text("blocked today")').waitFor({ timeout: STEP_MS });
    const started = await readDiscovery(home);
    assert.ok(started !== null && discoveryAlive(started.discovery) && started.discovery.pid !== running.discovery.pid, 'a new daemon runs');
  });
});
