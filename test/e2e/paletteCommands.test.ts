// The palette commands end to end, in a real VS Code (code-server) in headless Chromium, driven as a user
// drives them: **Configure Export Destination…** (provider, bucket, endpoint, keys typed into password boxes,
// prefix, Test Connection, save) against s3rver, with a clear failure for a wrong endpoint and for an
// unknown key; **Manage Export Schedules** (add, edit, disable and enable, run now, last run and its
// objects); **Export Audit Log…**; **Set Retention Period**, **Set Content Mode**, **Run Retention
// Cleanup**, **Rotate Encryption Keys**, **Verify Audit Log Integrity**; and what a command says when the
// daemon is away. Effects are checked outside the editor: the daemon's CLI (`ai-audit destinations`,
// `schedules`, `settings`, `query`), the objects in s3rver, and the files and processes where a secret must
// never be.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import type { Entry } from '../../daemon/protocol/entry.ts';
import type { NamedDestination } from '../../daemon/protocol/destinations.ts';
import type { Schedule } from '../../daemon/protocol/exports.ts';
import { runCliProcess, startDaemonProcess, type DaemonProcess } from '../support/daemonProcess.ts';
import { filesUnder } from '../support/filesUnder.ts';
import { S3RVER_KEYS, startS3rver, type S3rverServer } from '../support/s3rverServer.ts';
import { killDaemonOf } from './chatDriver.ts';
import { builtVsix } from './harness/builtExtension.ts';
import { CleanupStack } from './harness/cleanupStack.ts';
import { startCodeServer, type CodeServer } from './harness/codeServer.ts';
import { openWorkbench, type Workbench } from './harness/workbench.ts';

const SUITE_TIMEOUT_MS = 30 * 60_000;
/** One step of a busy machine (a quick pick to appear, a notification). */
const STEP_MS = 60_000;
const SEEDED = 120;

/** A loopback port nothing listens on: a wrong endpoint that fails at once. */
async function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Command lines of every process on the machine (a secret must not be in any). */
async function allCommandLines(): Promise<string> {
  const lines: string[] = [];
  for (const pid of (await readdir('/proc')).filter((name) => /^\d+$/.test(name))) {
    lines.push(await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => ''));
  }
  return lines.join('\n');
}

/** The files below `dir` whose bytes contain `needle`. */
async function filesHolding(dir: string, needle: string): Promise<string[]> {
  const found: string[] = [];
  for (const file of await filesUnder(dir).catch(() => [])) {
    const bytes = await readFile(file).catch(() => Buffer.alloc(0));
    if (bytes.includes(needle)) found.push(file);
  }
  return found;
}

/** The quick input as a user meets it: answer the box that asks `prompt`, pick the row labelled `label`. */
class QuickInput {
  private readonly page: Page;

  constructor(page: Page) {
    this.page = page;
  }

  private get widget() {
    return this.page.locator('.quick-input-widget');
  }

  private get input() {
    return this.page.locator('.quick-input-widget input');
  }

  /** Waits for an input box showing `prompt`, types `value` (nothing: keeps its value) and presses Enter. */
  async answer(prompt: string, value?: string, options: { password?: boolean } = {}): Promise<void> {
    const box = this.widget.filter({ visible: true }).filter({ hasText: prompt });
    await box.waitFor({ timeout: STEP_MS });
    assert.equal((await this.input.getAttribute('type')) === 'password', options.password === true, `the box for "${prompt}" hides what is typed only for secrets`);
    if (value !== undefined) await this.input.fill(value);
    await this.input.press('Enter');
    await this.widget.filter({ hasText: prompt }).filter({ visible: true }).waitFor({ state: 'hidden', timeout: STEP_MS }).catch(() => undefined);
  }

  /** Picks a row by typing its label and taking the focused row (a hover over a description can cover rows). */
  async choose(label: string, typed = label): Promise<void> {
    await this.page.locator('.quick-input-list .monaco-list-row', { hasText: label }).first().waitFor({ timeout: STEP_MS });
    await this.input.fill(typed);
    await this.page.locator('.quick-input-list .monaco-list-row.focused', { hasText: label }).waitFor({ timeout: STEP_MS });
    await this.input.press('Enter');
  }

  /** The texts of the rows of the open quick pick, once one holds `text`. */
  async rowsOnceShowing(text: string): Promise<string[]> {
    await this.page.locator('.quick-input-list .monaco-list-row', { hasText: text }).first().waitFor({ timeout: STEP_MS });
    return this.page.locator('.quick-input-list .monaco-list-row').allInnerTexts();
  }

  /** Escape; `then: 'hidden'` waits until no quick input is left (a menu may come back instead). */
  async close(then: 'hidden' | 'next' = 'hidden'): Promise<void> {
    await this.input.press('Escape');
    if (then === 'hidden') await this.widget.waitFor({ state: 'hidden', timeout: STEP_MS });
  }
}

describe('palette commands in a real VS Code', { timeout: SUITE_TIMEOUT_MS }, () => {
  const cleanup = new CleanupStack();
  let root: string;
  let home: string;
  let env: Record<string, string>;
  let daemon: DaemonProcess;
  let s3: S3rverServer;
  let server: CodeServer;
  let workbench: Workbench;
  let page: Page;
  let quick: QuickInput;
  let artifacts: string;
  // s3rver takes any secret for its one key id: the typed secret is a fresh value to look for everywhere.
  const secret = `palette-secret-${randomBytes(12).toString('hex')}`;

  const cli = async (args: string[]): Promise<string> => {
    const result = await runCliProcess([...args, '--home', home], { env });
    assert.equal(result.code, 0, `ai-audit ${args.join(' ')}: ${result.stderr}`);
    return result.stdout;
  };
  const jsonLines = (text: string): Entry[] => text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Entry);
  const destinations = async () => JSON.parse(await cli(['destinations', 'list', '--json'])) as Array<NamedDestination & { location: string }>;
  const schedules = async () => JSON.parse(await cli(['schedules', 'list', '--json'])) as Schedule[];
  // Through the toasts' own clear buttons: a command would close the quick pick the user is in.
  const dismissNotifications = async () => {
    for (const clear of await page.locator('.notifications-toasts .codicon-notifications-clear').all()) await clear.dispatchEvent('click').catch(() => undefined);
    await page.locator('.notifications-toasts .notification-toast').first().waitFor({ state: 'hidden', timeout: STEP_MS }).catch(() => undefined);
  };
  /** Presses a button of VS Code's modal dialog. */
  const confirm = async (label: string) => {
    const button = page.locator('.monaco-dialog-box .monaco-button', { hasText: label }).first();
    await button.waitFor({ timeout: STEP_MS });
    await button.click();
  };
  const shoot = async (name: string) => {
    await workbench.screenshot(join(artifacts, name)).catch(() => undefined);
  };

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'ai-audit-e2e-palette-'));
    cleanup.defer(() => rm(root, { recursive: true, force: true }));
    home = join(root, 'audit-home');
    const workspace = join(root, 'workspace');
    await mkdir(workspace, { recursive: true });
    env = { AI_AUDIT_HOME: home, AI_AUDIT_MASTER_KEY: randomBytes(32).toString('base64') };
    daemon = await startDaemonProcess(home, env);
    cleanup.defer(() => daemon.kill9());
    cleanup.defer(() => killDaemonOf(home));
    const seedFile = join(root, 'seed.jsonl');
    const events = Array.from({ length: SEEDED }, (_, i) => JSON.stringify({ kind: 'chat.input', decision: i % 5 === 0 ? 'blocked' : 'allowed', input: `prompt ${i}`, model: 'gpt-4o', actor: { user_id: 'alice' } }));
    await writeFile(seedFile, `${events.join('\n')}\n`);
    const seeded = await runCliProcess(['ingest', seedFile, '--home', home], { env });
    assert.equal(seeded.code, 0, seeded.stderr);
    s3 = await startS3rver({ buckets: ['audit'] });
    cleanup.defer(() => s3.dispose());
    server = await startCodeServer({
      vsixFiles: [await builtVsix()],
      extensionDirs: [],
      workspaceFolder: workspace,
      env,
      settings: { 'aiAuditTrail.daemon.autoStart': false, 'aiAuditTrail.userId': 'ops-olga' },
    });
    cleanup.defer(() => server.dispose());
    artifacts = process.env.AI_AUDIT_E2E_ARTIFACTS ?? join(root, 'screenshots');
    workbench = await openWorkbench(server.url, { screenshotsDir: artifacts });
    cleanup.defer(() => workbench.dispose());
    page = workbench.page;
    quick = new QuickInput(page);
    await page.locator('.statusbar-item', { hasText: 'blocked today' }).waitFor({ timeout: 2 * STEP_MS });
  });
  after(async () => {
    await cleanup.dispose();
  });

  test('Configure Export Destination…: keys typed into password boxes, Test Connection, saved for the daemon', async () => {
    try {
      await workbench.runCommand('AI Audit Trail: Configure Export Destination…', { timeoutMs: STEP_MS });
      await quick.choose('S3-compatible');
      await quick.answer('A name for this destination', 'team-s3');
      await quick.answer('Bucket', 'audit');
      await quick.answer('Endpoint URL', s3.endpoint);
      await quick.answer('Region (optional)', 'us-east-1');
      await quick.choose('Enter keys');
      await quick.answer('Name to keep the keys under in the keychain (ref)'); // proposed: the destination's name
      await quick.answer('Access key id', S3RVER_KEYS.accessKeyId, { password: true });
      await quick.answer('Secret access key', secret, { password: true });
      await quick.answer('Session token (optional', '', { password: true });
      await quick.answer('Key prefix inside the destination (optional)', 'palette');
      // The keys went to the daemon's keychain and were tested right away.
      const tested = await workbench.waitForNotification('write yes', { timeoutMs: STEP_MS });
      assert.match(tested, /s3:\/\/audit\/palette.*write yes, read yes, delete yes/);
      // Test Connection from the destination's menu, then Save.
      await dismissNotifications();
      await quick.choose('Test Connection');
      await workbench.waitForNotification('write yes', { timeoutMs: STEP_MS });
      await quick.choose('Save', 'Save');
      await workbench.waitForNotification('Destination team-s3 saved', { timeoutMs: STEP_MS });
      const saved = (await destinations()).find((d) => d.name === 'team-s3');
      assert.ok(saved !== undefined, 'ai-audit destinations list shows the new destination');
      assert.deepEqual(
        { ...saved.config },
        // path_style and checksum: the daemon's defaults for S3-compatible endpoints.
        { type: 's3-compatible', bucket: 'audit', endpoint: s3.endpoint, region: 'us-east-1', prefix: 'palette', credentials: { source: 'keychain', ref: 'team-s3' }, path_style: true, checksum: 'when_required' },
      );
      // The keys are the daemon's (credentials.set): recorded by ref and kind only.
      const credentials = jsonLines(await cli(['query', '--kind', 'audit.credentials']));
      assert.deepEqual(credentials.map((e) => [e.audit?.ref, e.audit?.kind]), [['team-s3', 's3']]);
    } catch (error: unknown) {
      await shoot('palette-destination-failure.png');
      throw error;
    }
  });

  test('Test Connection names the endpoint to check when it is wrong; nothing is saved', async () => {
    try {
      await dismissNotifications();
      await workbench.runCommand('AI Audit Trail: Configure Export Destination…', { timeoutMs: STEP_MS });
      await quick.choose('S3-compatible');
      await quick.answer('A name for this destination', 'wrong-endpoint');
      await quick.answer('Bucket', 'audit');
      await quick.answer('Endpoint URL', `http://127.0.0.1:${await closedPort()}`);
      await quick.answer('Region (optional)', 'us-east-1');
      await quick.choose('Keys already in the OS keychain');
      await quick.answer('Name of the keychain item (ref) that holds the keys', 'team-s3');
      await quick.answer('Key prefix inside the destination (optional)', '');
      await quick.choose('Test Connection');
      const unreachable = await workbench.waitForNotification('could not be written', { timeoutMs: 3 * STEP_MS });
      assert.match(unreachable, /endpoint URL/, `the failure names the endpoint to check: ${unreachable}`);
      await quick.close();
      assert.equal((await destinations()).some((d) => d.name === 'wrong-endpoint'), false, 'a cancelled destination is not saved');
    } catch (error: unknown) {
      await shoot('palette-wrong-endpoint-failure.png');
      throw error;
    }
  });

  test('an unknown key fails the test right after the keys were typed, saying to check them', async () => {
    try {
      await dismissNotifications();
      await workbench.runCommand('AI Audit Trail: Configure Export Destination…', { timeoutMs: STEP_MS });
      await quick.choose('S3-compatible');
      await quick.answer('A name for this destination', 'wrong-key');
      await quick.answer('Bucket', 'audit');
      await quick.answer('Endpoint URL', s3.endpoint);
      await quick.answer('Region (optional)', '');
      await quick.choose('Enter keys');
      await quick.answer('Name to keep the keys under in the keychain (ref)');
      await quick.answer('Access key id', 'NOT-A-KNOWN-KEY', { password: true });
      await quick.answer('Secret access key', secret, { password: true });
      await quick.answer('Session token (optional', '', { password: true });
      await quick.answer('Key prefix inside the destination (optional)', '');
      const denied = await workbench.waitForNotification('could not be written', { timeoutMs: 3 * STEP_MS });
      assert.match(denied, /credentials/, `the failure says to check the keys: ${denied}`);
      await quick.close();
      assert.equal((await destinations()).some((d) => d.name === 'wrong-key'), false);
    } catch (error: unknown) {
      await shoot('palette-wrong-key-failure.png');
      throw error;
    }
  });

  test('Manage Export Schedules: add, edit, disable, enable, run now, last run and its objects', async () => {
    try {
      await dismissNotifications();
      await workbench.runCommand('AI Audit Trail: Manage Export Schedules', { timeoutMs: STEP_MS });
      await quick.choose('Add schedule', 'Add schedule');
      await quick.answer('Schedule name', 'nightly');
      await quick.choose('team-s3');
      await quick.choose('hive');
      await quick.choose('JSONL', 'JSONL');
      await quick.choose('day');
      await quick.answer('Time of day', '02:00');
      await quick.answer('Time zone', 'UTC');
      await workbench.waitForNotification('Schedule nightly added', { timeoutMs: STEP_MS });
      let nightly = (await schedules()).find((s) => s.name === 'nightly');
      assert.ok(nightly !== undefined, 'ai-audit schedules list shows the schedule');
      assert.deepEqual([nightly.destination, nightly.layout, nightly.gzip, nightly.timing, nightly.time_zone, nightly.enabled], ['team-s3', 'hive', false, { every: 'day', time: '02:00' }, 'UTC', true]);

      // The list is back with the schedule in it: edit its timing.
      await quick.choose('nightly');
      await quick.choose('Edit timing', 'Edit timing');
      await quick.choose('week');
      await quick.choose('Monday');
      await quick.answer('Time of day', '06:30');
      await quick.answer('Time zone', 'Europe/Berlin');
      await quick.rowsOnceShowing('weekly on Monday at 06:30 (Europe/Berlin)');
      nightly = (await schedules()).find((s) => s.name === 'nightly');
      assert.deepEqual([nightly?.timing, nightly?.time_zone], [{ every: 'week', day: 1, time: '06:30' }, 'Europe/Berlin']);

      // Disable, and the list says so; enable again.
      await quick.choose('nightly');
      await quick.choose('Disable');
      await quick.rowsOnceShowing('disabled ·');
      assert.equal((await schedules()).find((s) => s.name === 'nightly')?.enabled, false);
      await quick.choose('nightly');
      await quick.choose('Enable');
      await page.locator('.quick-input-list .monaco-list-row', { hasText: 'weekly on Monday' }).filter({ hasNotText: 'disabled' }).first().waitFor({ timeout: STEP_MS });
      assert.equal((await schedules()).find((s) => s.name === 'nightly')?.enabled, true);

      // Run now: objects land in s3rver; the list shows the last run, and its objects are listed.
      await quick.choose('nightly');
      await quick.choose('Run now');
      const ran = await workbench.waitForNotification('Schedule nightly: succeeded', { timeoutMs: 5 * STEP_MS });
      assert.match(ran, /entries in \d+ objects to s3:\/\/audit\/palette/);
      const objects = [...(await s3.storedObjects('audit')).keys()].filter((key) => key.startsWith('palette/') && key.endsWith('.jsonl'));
      assert.ok(objects.length > 0, 'the run wrote objects under the destination prefix');
      const rows = await quick.rowsOnceShowing('last run succeeded');
      assert.ok(rows.some((row) => row.includes('nightly') && row.includes('last run succeeded')), rows.join(' | '));
      await quick.choose('nightly');
      await quick.choose('Last runs and their objects', 'Last runs');
      const runLines = await quick.rowsOnceShowing('succeeded');
      assert.ok(
        objects.every((key) => runLines.some((line) => line.includes(key.slice(key.lastIndexOf('/') + 1)))),
        `the run lists its objects: ${runLines.join(' | ')} (in s3rver: ${objects.join(', ')})`,
      );
      await quick.close('next'); // the runs; the schedule list comes back
      await quick.rowsOnceShowing('Add schedule');
      await quick.close();
    } catch (error: unknown) {
      await shoot('palette-schedules-failure.png');
      throw error;
    }
  });

  test('Export Audit Log…: destination, time range, layout; progress, then where it went', async () => {
    try {
      await dismissNotifications();
      const before = new Set((await s3.storedObjects('audit')).keys());
      await workbench.runCommand('AI Audit Trail: Export Audit Log…', { timeoutMs: STEP_MS });
      await quick.choose('team-s3');
      await quick.choose('obot');
      await quick.choose('gzip', 'gzip');
      await quick.choose('Everything in the store', 'Everything');
      const done = await workbench.waitForNotification('Exported', { timeoutMs: 5 * STEP_MS });
      assert.match(done, /Exported \d+ entries .* to s3:\/\/audit\/palette/);
      const written = [...(await s3.storedObjects('audit')).keys()].filter((key) => !before.has(key) && key.endsWith('.jsonl.gz'));
      assert.ok(written.length > 0, 'gzip objects were written');
      // Show Objects lists them.
      await page.locator('.notification-toast', { hasText: 'Exported' }).locator('.monaco-button', { hasText: 'Show Objects' }).click();
      const listed = await quick.rowsOnceShowing('.jsonl.gz');
      assert.ok(written.every((key) => listed.some((line) => line.includes(key.slice(key.lastIndexOf('/') + 1)))), listed.join(' | '));
      await quick.close();
    } catch (error: unknown) {
      await shoot('palette-export-failure.png');
      throw error;
    }
  });

  test('Set Retention Period, Set Content Mode, Run Retention Cleanup, Rotate Encryption Keys, Verify', async () => {
    try {
      await dismissNotifications();
      await workbench.runCommand('AI Audit Trail: Set Retention Period', { timeoutMs: STEP_MS });
      await quick.answer('Days to keep entries', '45');
      await workbench.waitForNotification('kept for 45 days', { timeoutMs: STEP_MS });
      await workbench.runCommand('AI Audit Trail: Set Content Mode', { timeoutMs: STEP_MS });
      await quick.choose('encrypted');
      await workbench.waitForNotification('encrypted mode', { timeoutMs: STEP_MS });
      const settings = JSON.parse(await cli(['settings'])) as { retention_days: number; content_mode: string };
      assert.deepEqual([settings.retention_days, settings.content_mode], [45, 'encrypted']);

      await workbench.runCommand('AI Audit Trail: Run Retention Cleanup', { timeoutMs: STEP_MS });
      await confirm('Run Cleanup');
      await workbench.waitForNotification('Nothing is older than 45 days', { timeoutMs: STEP_MS });

      await workbench.runCommand('AI Audit Trail: Rotate Encryption Keys', { timeoutMs: STEP_MS });
      await confirm('Rotate Keys');
      await workbench.waitForNotification('Keys rotated', { timeoutMs: STEP_MS });
      const kinds = jsonLines(await cli(['query', '--limit', '500'])).map((e) => e.kind);
      for (const kind of ['audit.settings', 'audit.retention', 'audit.keys.rotate']) assert.ok(kinds.includes(kind as Entry['kind']), `${kind} recorded`);

      await workbench.runCommand('AI Audit Trail: Verify Audit Log Integrity', { timeoutMs: STEP_MS });
      await workbench.waitForNotification('The audit log is intact', { timeoutMs: 5 * STEP_MS });
    } catch (error: unknown) {
      await shoot('palette-settings-failure.png');
      throw error;
    }
  });

  test("the typed secret is nowhere but the daemon's keychain", async () => {
    await page.waitForTimeout(1_000);
    assert.deepEqual(await filesHolding(server.userDataDir, secret), [], "not in VS Code's user data (settings.json, state, logs)");
    assert.deepEqual(await filesHolding(home, secret), [], "not in the daemon's home (state, segments, log)");
    assert.deepEqual(await filesHolding(root, secret), [], 'not in any file under the test folder');
    assert.equal((await allCommandLines()).includes(secret), false, 'not in any process arguments');
    const settings = await readFile(join(server.userDataDir, 'User', 'settings.json'), 'utf8');
    assert.equal(settings.includes(S3RVER_KEYS.accessKeyId), false, 'no key id in settings.json either');
  });

  test('with the daemon gone, a command says what to do next', async () => {
    try {
      await dismissNotifications();
      await daemon.kill9();
      await page.locator('.statusbar-item', { hasText: /Audit: (offline|connecting)/ }).first().waitFor({ timeout: 2 * STEP_MS });
      await workbench.runCommand('AI Audit Trail: Manage Export Schedules', { timeoutMs: STEP_MS });
      const text = await workbench.waitForNotification('Could not manage the export schedules', { timeoutMs: 2 * STEP_MS });
      assert.match(text, /Restart Daemon|Show Daemon Log/, text);
    } catch (error: unknown) {
      await shoot('palette-daemon-gone-failure.png');
      throw error;
    }
  });
});
