// Smoke test of the end-to-end harness: a real VS Code (code-server) in real, headless Chromium,
// with the test-only model extension, driven through the command palette.

import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CleanupStack } from './harness/cleanupStack.ts';
import { startCodeServer } from './harness/codeServer.ts';
import { openWorkbench } from './harness/workbench.ts';

const TEST_MODEL_EXTENSION = fileURLToPath(new URL('../fixtures/testModelExtension/', import.meta.url));
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

// The first run installs code-server into the user's cache (about 2 minutes); later runs take ~15 s.
const TIMEOUT_MS = 6 * 60_000;

test('the harness runs VS Code with the test model and drives it from the command palette', { timeout: TIMEOUT_MS }, async (t) => {
  // One after hook with a stack: node:test runs after hooks in registration order, and the browser
  // must close before the server it talks to.
  const cleanup = new CleanupStack();
  t.after(() => cleanup.dispose());

  const workspace = await mkdtemp(join(tmpdir(), 'ai-audit-e2e-workspace-'));
  cleanup.defer(() => rm(workspace, { recursive: true, force: true }));
  // AI_AUDIT_E2E_ARTIFACTS keeps the screenshots somewhere to look at them after the run.
  const keptArtifacts = process.env.AI_AUDIT_E2E_ARTIFACTS;
  const screenshotsDir = keptArtifacts ?? (await mkdtemp(join(tmpdir(), 'ai-audit-e2e-screenshots-')));
  if (keptArtifacts === undefined) cleanup.defer(() => rm(screenshotsDir, { recursive: true, force: true }));

  const server = await startCodeServer({ extensionDirs: [TEST_MODEL_EXTENSION], workspaceFolder: workspace });
  cleanup.defer(() => server.dispose());
  const workbench = await openWorkbench(server.url, { screenshotsDir });
  cleanup.defer(() => workbench.dispose());

  try {
    await workbench.runCommand('AI Audit Test: Ask Test Model', { timeoutMs: 30_000 });
    const notification = await workbench.waitForNotification('Test model said:', { timeoutMs: 30_000 });
    assert.equal(notification, 'Test model said: Echo: hello harness');
    assert.ok((await workbench.notificationTexts()).includes('Test model said: Echo: hello harness'));

    const screenshot = await workbench.screenshot('harness-smoke.png');
    const png = await readFile(screenshot);
    assert.ok(png.length > 1_000, `screenshot is only ${png.length} bytes`);
    assert.deepEqual(png.subarray(0, PNG_SIGNATURE.length), PNG_SIGNATURE);
  } catch (error: unknown) {
    const failureShot = await workbench.screenshot('harness-smoke-failure.png').catch(() => undefined);
    if (failureShot) t.diagnostic(`failure screenshot: ${failureShot} (set AI_AUDIT_E2E_ARTIFACTS to keep it)`);
    for (const line of server.output().split('\n')) t.diagnostic(`code-server: ${line}`);
    throw error;
  }
});
