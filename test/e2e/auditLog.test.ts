// The audit log viewer end to end, in a real VS Code (code-server) in headless Chromium, on a store
// seeded with 100k entries through a bulk ingest: scrolling through the first 10k rows (long tasks
// measured in the webview), hostile strings rendered inert, the blocked filter compared with
// `ai-audit query`, decrypt with a reason, a review note, charts, verify intact and after a segment was
// edited on disk, an entry opened from a chat badge, the access record of it all, and an export of the
// blocked rows through the viewer to s3rver.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Frame, Page } from 'playwright-core';
import { readDiscovery } from '../../daemon/client/daemonDiscovery.ts';
import type { Entry } from '../../daemon/protocol/entry.ts';
import { listSegments } from '../../daemon/store/segmentPaths.ts';
import { runCliProcess, startDaemonProcess, type DaemonProcess } from '../support/daemonProcess.ts';
import { S3RVER_KEYS, startS3rver } from '../support/s3rverServer.ts';
import { HOSTILE_STRINGS, megabyteString, PWNED_HOST } from '../support/hostileCorpus.ts';
import { AUDIT_TABLE, openAuditLog } from './harness/auditLogViewer.ts';
import { CleanupStack } from './harness/cleanupStack.ts';
import { builtVsix } from './harness/builtExtension.ts';
import { startCodeServer } from './harness/codeServer.ts';
import { openWorkbench, webviewFrameWith } from './harness/workbench.ts';
import { measureScroll } from './harness/scrollMeasure.ts';

const TEST_MODEL_EXTENSION = fileURLToPath(new URL('../fixtures/testModelExtension/', import.meta.url));
const DOCS = fileURLToPath(new URL('../../docs/', import.meta.url));
/** The pictures of the viewer in docs/ (README.md shows them): refreshed only by `npm run docs:screenshots`. */
const DOC_PICTURES = ['audit-log-dark.png', 'audit-log-charts-dark.png', 'audit-log-charts-light.png', 'audit-log-light.png'];
/** Set by `npm run docs:screenshots`: the pictures go to docs/. Otherwise a run leaves tracked files alone. */
const REFRESH_DOCS = process.env.AI_AUDIT_REFRESH_DOCS === '1';
const TIMEOUT_MS = 30 * 60_000;
const SEEDED = 100_000;
const SCROLL_ROWS = 10_000;
const MODELS = ['gpt-4o', 'claude-sonnet', 'llama3'];
const USERS = ['alice', 'bob', 'carol', 'dave', 'erin'];
const KINDS = ['chat.input', 'chat.output', 'file.upload', 'mcp.call', 'governance.check'] as const;

/** 100k ordinary events over the last 14 days, then encrypted ones, then the hostile corpus (newest). */
function seedEvents(now: number): string[] {
  const lines: string[] = [];
  const span = 14 * 86_400_000;
  for (let i = 0; i < SEEDED; i++) {
    const blocked = i % 10 === 3;
    const warned = !blocked && i % 7 === 2;
    const kind = KINDS[i % KINDS.length] ?? 'chat.input';
    const event: Record<string, unknown> = {
      kind,
      ts: new Date(now - span + Math.floor((i * span) / SEEDED)).toISOString(),
      decision: blocked ? 'blocked' : warned ? 'warned' : 'allowed',
      model: MODELS[i % MODELS.length],
      provider: 'openai',
      operation: i % 2 === 0 ? 'chat' : 'completion',
      risk_score: blocked ? 0.9 : warned ? 0.5 : (i % 10) / 100,
      actor: { user_id: USERS[i % USERS.length], session_id: `s-${i % 50}` },
      conversation_id: `conv-${i % 400}`,
      input: `prompt number ${i}`,
      scanner: { name: 'heuristic', flagged: blocked || warned, ...(blocked ? { categories: { prompt_attack: true } } : warned ? { categories: { pii: true } } : {}) },
      threat_level: blocked ? 'high' : warned ? 'medium' : 'none',
    };
    if (kind === 'file.upload') event.file = { name: `report-${i}.md`, type: 'markdown', size: 100 + i };
    if (kind === 'mcp.call') event.mcp = { server: i % 2 === 0 ? 'github' : 'files', tool: 'search', status: 'success' };
    lines.push(JSON.stringify(event));
  }
  for (let i = 0; i < 5; i++) {
    lines.push(JSON.stringify({ kind: 'chat.input', decision: 'warned', content_mode: 'encrypted', input: `secret prompt ${i}: customer 4711 wants a refund`, model: 'gpt-4o', metadata: { case: 'decrypt-me' }, actor: { user_id: 'alice' } }));
  }
  HOSTILE_STRINGS.forEach((text, i) => {
    lines.push(
      JSON.stringify({
        kind: i % 2 === 0 ? 'file.upload' : 'chat.input',
        decision: 'warned',
        content_mode: 'encrypted',
        input: text,
        model: text.slice(0, 512),
        file: { name: text.slice(0, 512), type: 'text', size: text.length },
        conversation_id: text.slice(0, 512),
        actor: { user_id: text.slice(0, 512) },
        reason: text,
        metadata: { hostile: text, nested: { also: text }, case: 'hostile' },
        scanner: { name: 'heuristic', flagged: true, categories: { [text.slice(0, 100)]: true } },
      }),
    );
  });
  lines.push(JSON.stringify({ kind: 'chat.input', decision: 'warned', content_mode: 'encrypted', input: megabyteString(), model: 'megabyte', metadata: { case: 'hostile', big: 'x'.repeat(4000) } }));
  return lines;
}

/** The frame of the audit log webview (there may be other webviews, e.g. the chat). */
function auditFrame(page: Page, timeoutMs = 30_000): Promise<Frame> {
  return webviewFrameWith(page, AUDIT_TABLE, timeoutMs);
}

/** Seqs of the rows on screen, top to bottom. */
async function visibleSeqs(frame: Frame): Promise<number[]> {
  return frame.evaluate(() => {
    const viewport = document.querySelector('#audit-table') as HTMLElement;
    const top = viewport.scrollTop;
    const bottom = top + viewport.clientHeight;
    return [...document.querySelectorAll<HTMLElement>('.row:not([hidden])')]
      .map((row) => ({ index: Number(row.dataset.index), key: row.dataset.key ?? '' }))
      .filter((r) => r.key !== 'loading' && r.index * 24 >= top && (r.index + 1) * 24 <= bottom)
      .sort((a, b) => a.index - b.index)
      .map((r) => Number(r.key));
  });
}

async function cli(args: string[], env: Record<string, string>): Promise<string> {
  const result = await runCliProcess(args, { env });
  assert.equal(result.code, 0, result.stderr);
  return result.stdout;
}

/** A screenshot of the editor area only (the viewer), for docs/: small files, no workbench chrome. */
async function shootEditor(page: Page, frame: Frame, path: string): Promise<void> {
  // Test clicks scroll rows sideways into view; a person starts at the left.
  await frame.evaluate(() => {
    (document.querySelector('#audit-table') as HTMLElement).scrollLeft = 0;
  });
  const box = await page.locator('.part.editor').boundingBox();
  await page.screenshot({ path, ...(box === null ? {} : { clip: box }) });
}

const jsonLines = <T>(text: string): T[] => text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as T);

test('audit log viewer in a real VS Code: 100k entries, filters, decrypt, review, charts, verify, chat badge, inert hostile strings', { timeout: TIMEOUT_MS }, async (t) => {
  const cleanup = new CleanupStack();
  t.after(() => cleanup.dispose());
  const root = await mkdtemp(join(tmpdir(), 'ai-audit-e2e-log-'));
  cleanup.defer(() => rm(root, { recursive: true, force: true }));
  const home = join(root, 'audit-home');
  const workspace = join(root, 'workspace');
  await mkdir(workspace, { recursive: true });
  const env = { AI_AUDIT_HOME: home, AI_AUDIT_MASTER_KEY: randomBytes(32).toString('base64'), AI_AUDIT_SEGMENT_MAX_BYTES: String(4 * 1024 * 1024) };

  const daemon: DaemonProcess = await startDaemonProcess(home, env);
  cleanup.defer(() => daemon.kill9());
  cleanup.defer(async () => {
    const found = await readDiscovery(home);
    if (found !== null) {
      try {
        process.kill(found.discovery.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  });

  // Seed through the bulk ingest (batches of 1000 per request), not 100k round trips.
  const seedFile = join(root, 'seed.jsonl');
  await writeFile(seedFile, `${seedEvents(Date.now()).join('\n')}\n`);
  const seeded = await runCliProcess(['ingest', seedFile, '--home', home], { env });
  assert.equal(seeded.code, 0, seeded.stderr.slice(0, 2000));
  const total = SEEDED + 5 + HOSTILE_STRINGS.length + 1;
  assert.equal(jsonLines<{ seq: number }>(seeded.stdout).at(-1)?.seq, total);

  const server = await startCodeServer({
    vsixFiles: [await builtVsix()],
    extensionDirs: [TEST_MODEL_EXTENSION],
    workspaceFolder: workspace,
    env,
    settings: { 'aiAuditTrail.daemon.autoStart': false, 'aiAuditTrail.userId': 'reviewer-rita', 'workbench.colorTheme': 'Default Dark Modern' },
  });
  cleanup.defer(() => server.dispose());
  const artifacts = process.env.AI_AUDIT_E2E_ARTIFACTS ?? join(root, 'screenshots');
  await mkdir(artifacts, { recursive: true });
  const pictures = REFRESH_DOCS ? DOCS : artifacts;
  const docsBefore = await Promise.all(DOC_PICTURES.map((name) => readFile(join(DOCS, name)).catch(() => null)));
  const workbench = await openWorkbench(server.url, { screenshotsDir: artifacts });
  cleanup.defer(() => workbench.dispose());
  const page = workbench.page;

  // Watch for anything a hostile string could make the browser do.
  const dialogs: string[] = [];
  const foreignRequests: string[] = [];
  page.on('dialog', (dialog) => {
    dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  const origin = new URL(server.url).origin;
  workbench.context.on('request', (request) => {
    const url = request.url();
    if (url.includes(PWNED_HOST) || (!url.startsWith(origin) && !url.startsWith('data:') && !url.startsWith('blob:') && !/^https?:\/\/[^/]*\.vscode-cdn\.net\//.test(url) && !url.includes('open-vsx.org'))) foreignRequests.push(url);
  });

  try {
    // 1. Open from the palette; the newest rows (the hostile corpus) come first.
    let frame = await openAuditLog(workbench);
    await frame.locator('.row[data-key="' + total + '"]').waitFor({ timeout: 60_000 });
    assert.equal((await visibleSeqs(frame))[0], total);

    // 2. Hostile strings: open the detail of each hostile entry and decrypt none; all of it is text.
    const hostileSeqs = Array.from({ length: HOSTILE_STRINGS.length + 1 }, (_, i) => total - i);
    for (const seq of hostileSeqs.slice(0, 6)) {
      await frame.locator(`.row[data-key="${seq}"]`).click();
      await frame.locator('.detail-title', { hasText: `Entry #${seq}` }).waitFor({ timeout: 30_000 });
      await frame.locator('#detail-fields').waitFor({ timeout: 30_000 });
    }
    const markup = await frame.evaluate(() => ({
      injected: document.querySelectorAll('#app script, #app img, #app iframe, #app style, #app link, #app a[href], #app svg circle, #app meta').length,
      pwned: (window as unknown as { __pwned?: number }).__pwned ?? null,
      topPwned: (() => {
        try {
          return (window.top as unknown as { __pwned?: number }).__pwned ?? null;
        } catch {
          return null;
        }
      })(),
      literal: document.body.textContent.includes('<script>window.__pwned=1;alert(1)</script>'),
      bidiShown: document.body.textContent.includes('⟨U+202E⟩'),
    }));
    assert.deepEqual(markup, { injected: 0, pwned: null, topPwned: null, literal: true, bidiShown: true });

    // 3. Scroll through the first 10k rows, long tasks observed in the webview itself (harness/scrollMeasure.ts).
    //    Checked here: the scroll reaches row 10k and the table stays virtualized. The long-task target (none
    //    over 200 ms) is judged by `npm run bench` (bench/viewerScroll.ts), not asserted: long tasks are wall
    //    time, and on a machine shared with other jobs a frame waits its turn for hundreds of ms (it failed
    //    1 of 3 runs under load). The figures are recorded as diagnostics.
    frame = await auditFrame(page);
    const { priority, figures: perf } = await measureScroll(frame, workbench.profileDir, SCROLL_ROWS);
    t.diagnostic(`scroll through ${SCROLL_ROWS} rows of ${total} (browser priority ${JSON.stringify(priority)}): ${JSON.stringify(perf)}`);
    process.stderr.write(`[auditLog e2e] scroll measure (browser priority ${JSON.stringify(priority)}): ${JSON.stringify(perf)}\n`);
    assert.equal(perf.supported, true, 'the long task observer ran in the webview');
    assert.ok(perf.lastSeq <= total - SCROLL_ROWS + 60 && perf.lastSeq > total - SCROLL_ROWS - 60, `scrolled to row ${SCROLL_ROWS} (seq ${perf.lastSeq})`);
    assert.ok(perf.domRows < 200, `virtualized: ${perf.domRows} row elements`);

    // 4. Filter to blocked: the rows are those of `ai-audit query --decision blocked`.
    await frame.locator('#filter-decision summary').click();
    await frame.locator('#filter-decision input[value="blocked"]').check();
    await frame.locator('#filter-apply').click();
    await frame.locator('#filter-chips', { hasText: 'decision: blocked' }).waitFor({ timeout: 15_000 });
    const expectedBlocked = jsonLines<Entry>(await cli(['query', '--decision', 'blocked', '--limit', '20', '--home', home], env)).map((e) => e.seq);
    await frame.locator(`.row[data-index="0"][data-key="${expectedBlocked[0]}"]`).waitFor({ timeout: 30_000 });
    // A new screen fills over a few frames (a budget of rows per frame).
    await frame.locator(`.row[data-index="15"][data-key="${expectedBlocked[15]}"]`).waitFor({ timeout: 30_000 });
    const shown = await visibleSeqs(frame);
    assert.ok(shown.length >= 10, `rows shown: ${shown.length}`);
    assert.deepEqual(shown.slice(0, 20), expectedBlocked.slice(0, shown.slice(0, 20).length));

    // 5. Decrypt with a reason: confirmation, reason, content shown, audit.decrypt recorded.
    await frame.locator('#filter-clear').click();
    await frame.locator('#filter-text').fill('decrypt-me');
    await frame.locator('#filter-apply').click();
    await frame.locator('#filter-chips', { hasText: 'decrypt-me' }).waitFor({ timeout: 15_000 });
    const encryptedSeq = total - HOSTILE_STRINGS.length - 1;
    await frame.locator(`.row[data-key="${encryptedSeq}"]`).click();
    await frame.locator('#decrypt').click();
    await page.locator('.monaco-dialog-box .monaco-button', { hasText: 'Decrypt…' }).click();
    const reasonInput = page.locator('.quick-input-widget input');
    await reasonInput.waitFor({ timeout: 15_000 });
    await reasonInput.fill('INC-4711 customer complaint');
    await reasonInput.press('Enter');
    await frame.locator('#detail-decrypted', { hasText: 'secret prompt 4: customer 4711 wants a refund' }).waitFor({ timeout: 30_000 });
    const decrypts = jsonLines<Entry>(await cli(['query', '--kind', 'audit.decrypt', '--home', home], env));
    assert.deepEqual(decrypts.map((e) => [e.audit?.target_seq, e.audit?.reason]), [[encryptedSeq, 'INC-4711 customer complaint']]);

    // 6. A review note, shown on the entry afterwards and stored as audit.review.
    await frame.locator('#add-review').click();
    await page.locator('.quick-input-list .monaco-list-row', { hasText: 'False positive' }).click();
    const noteInput = page.locator('.quick-input-widget input');
    await noteInput.fill('refund request, not an attack');
    await noteInput.press('Enter');
    await frame.locator('#detail-reviews li', { hasText: 'refund request, not an attack' }).waitFor({ timeout: 30_000 });
    const reviews = jsonLines<Entry>(await cli(['query', '--kind', 'audit.review', '--home', home], env));
    assert.deepEqual(reviews.map((e) => [e.audit?.target_seq, e.audit?.verdict, e.audit?.reviewer, e.actor?.user_id]), [[encryptedSeq, 'false_positive', 'reviewer-rita', 'reviewer-rita']]);
    await shootEditor(page, frame, join(pictures, 'audit-log-dark.png'));

    // 7. Charts from stats.
    await frame.locator('#filter-clear').click();
    await frame.locator('#tab-charts').click();
    await frame.locator('#chart-days svg rect').first().waitFor({ timeout: 30_000 });
    await frame.locator('#chart-category .hbar-row', { hasText: 'prompt_attack' }).waitFor({ timeout: 30_000 });
    await frame.locator('#chart-risk .hbar-row', { hasText: 'gpt-4o' }).first().waitFor({ timeout: 30_000 });
    await shootEditor(page, frame, join(pictures, 'audit-log-charts-dark.png'));

    // 8. The same in the light theme.
    await workbench.runCommand('Preferences: Toggle between Light/Dark Themes', { timeoutMs: 30_000 });
    await page.locator('.monaco-workbench.vs').waitFor({ timeout: 30_000 });
    await page.waitForTimeout(1000);
    await shootEditor(page, frame, join(pictures, 'audit-log-charts-light.png'));
    await frame.locator('#tab-table').click();
    await frame.locator(`.row[data-key="${encryptedSeq}"]`).click();
    await frame.locator('#detail-reviews li').first().waitFor({ timeout: 30_000 });
    await shootEditor(page, frame, join(pictures, 'audit-log-light.png'));

    // 9. Verify: intact; then a byte of an old segment changes on disk, and verify names its seq.
    await frame.locator('#verify').click();
    await frame.locator('#banner', { hasText: 'Intact' }).waitFor({ timeout: 300_000 });
    const segments = await listSegments(home);
    const victim = segments[1];
    assert.ok(victim !== undefined, 'more than one segment');
    const path = join(home, victim.file);
    const lines = (await readFile(path, 'utf8')).split('\n');
    const target = JSON.parse(lines[10] ?? '{}') as Entry;
    // Same length, so that byte offsets stay where the daemon's summaries say they are.
    const model = target.model ?? '';
    lines[10] = (lines[10] ?? '').replace(`"model":"${model}"`, `"model":"${'X'.repeat(model.length)}"`);
    assert.ok(model.length > 0 && lines[10]?.includes('X'.repeat(model.length)));
    await writeFile(path, lines.join('\n'));
    await frame.locator('#verify').click();
    await frame.locator('#banner', { hasText: `Broken at #${target.seq}` }).waitFor({ timeout: 300_000 });
    await frame.locator('#banner-action', { hasText: `Go to #${target.seq}` }).click();
    await frame.locator('.detail-title', { hasText: `Entry #${target.seq}` }).waitFor({ timeout: 30_000 });
    // An old entry: the daemon's periodic checkpoint covers it.
    await frame.locator('#detail-chain', { hasText: 'signed at #' }).waitFor({ timeout: 30_000 });

    // 10. A chat badge opens its entry in the viewer.
    await workbench.runCommand('AI Audit Trail: Open Chat', { timeoutMs: 30_000 });
    const chat = await webviewFrameWith(page, 'textarea#composer', 60_000);
    await chat.locator('textarea#composer').fill('hello from the audit log test');
    await chat.locator('textarea#composer').press('Enter');
    const badge = chat.locator('.audit-seq').first();
    await badge.waitFor({ timeout: 60_000 });
    const badgeSeq = Number((await badge.innerText()).replace('#', ''));
    assert.ok(badgeSeq > total);
    await badge.click();
    frame = await auditFrame(page);
    await frame.locator('.detail-title', { hasText: `Entry #${badgeSeq}` }).waitFor({ timeout: 30_000 });
    const chatEntry = await frame.locator('#detail-fields').innerText();
    assert.match(chatEntry, /chat\.(input|output)/);

    // 11. Nothing hostile happened in the browser, and the viewing itself is on the record.
    assert.deepEqual(dialogs, [], 'no dialog opened');
    assert.deepEqual(foreignRequests.filter((u) => u.includes(PWNED_HOST)), [], 'no request to the hostile host');
    assert.deepEqual(foreignRequests, [], 'no request left the code-server origin');
    await workbench.runCommand('View: Close All Editors', { timeoutMs: 30_000 });
    const deadline = Date.now() + 60_000;
    let access: Entry[] = [];
    while (access.length === 0 && Date.now() < deadline) {
      access = jsonLines<Entry>(await cli(['query', '--kind', 'audit.access', '--home', home], env));
      if (access.length === 0) await new Promise((resolve) => setTimeout(resolve, 500));
    }
    const opened = access.flatMap((e) => (Array.isArray(e.audit?.entries) ? e.audit.entries : []));
    const filters = access.flatMap((e) => (Array.isArray(e.audit?.filters) ? e.audit.filters : []));
    assert.ok(opened.includes(encryptedSeq) && opened.includes(total), `opened entries recorded: ${JSON.stringify(opened).slice(0, 200)}`);
    assert.ok(filters.some((f) => JSON.stringify(f) === JSON.stringify({ decision: 'blocked' })), 'the blocked filter set is recorded');
    assert.ok(access.every((e) => e.actor?.user_id === 'reviewer-rita'));

    // 12. A click on the status bar item opens the viewer; its filter set survives a window reload.
    await page.locator('.statusbar-item:has-text("blocked today")').click();
    frame = await auditFrame(page);
    await frame.locator('.row[data-index="0"]:not([data-key="loading"])').waitFor({ timeout: 60_000 });
    await frame.locator('#filter-model').fill('llama3');
    await frame.locator('#filter-apply').click();
    await frame.locator('#filter-chips', { hasText: 'model: llama3' }).waitFor({ timeout: 15_000 });
    await page.waitForTimeout(1500); // VS Code saves webview state asynchronously
    // VS Code's own reload shuts the window down gracefully (a browser reload left no editors to restore).
    await workbench.runCommand('Developer: Reload Window', { timeoutMs: 30_000 });
    await page.waitForTimeout(2000);
    await page.locator('.monaco-workbench .part.statusbar').waitFor({ timeout: 60_000 });
    frame = await auditFrame(page, 60_000);
    await frame.locator('#filter-chips', { hasText: 'model: llama3' }).waitFor({ timeout: 30_000 });
    assert.equal(await frame.locator('#filter-model').inputValue(), 'llama3');

    // 12b. Live tail: new entries appear above without moving the row under the cursor.
    const anchor = frame.locator('.row[data-index="5"]');
    await anchor.waitFor({ timeout: 30_000 });
    const anchorSeq = Number(await anchor.getAttribute('data-key'));
    await anchor.click();
    await frame.locator('.detail-title', { hasText: `Entry #${anchorSeq}` }).waitFor({ timeout: 30_000 });
    const rowTop = () => frame.evaluate((seq) => document.querySelector(`.row[data-key="${seq}"]`)?.getBoundingClientRect().top ?? null, anchorSeq);
    const topBefore = await rowTop();
    await frame.locator('#live-tail').check();
    const tailFile = join(root, 'tail.jsonl');
    let tailSeq = 0;
    for (let attempt = 0; attempt < 20 && tailSeq === 0; attempt++) {
      // The subscription starts asynchronously: ingest until the viewer shows what was ingested.
      await writeFile(tailFile, `${JSON.stringify({ kind: 'chat.input', decision: 'allowed', model: 'llama3', input: `tail ${attempt}` })}\n`);
      const seq = jsonLines<{ seq: number }>(await cli(['ingest', tailFile, '--home', home], env))[0]?.seq ?? 0;
      if (await frame.locator(`.row[data-key="${seq}"]`).waitFor({ timeout: 3_000 }).then(() => true, () => false)) tailSeq = seq;
    }
    assert.ok(tailSeq > 0, 'a tailed entry appeared in the table');
    assert.equal(await frame.locator('.row.selected').getAttribute('data-key'), String(anchorSeq), 'the selection stays on its entry');
    assert.equal(await rowTop(), topBefore, 'the row under the cursor did not move');
    await frame.locator('#live-tail').uncheck();

    // 13. Export… of the filtered set (blocked, set again here) to s3rver, with keys the daemon keeps in its
    //     keychain (credentials.set); the objects written are listed and hold exactly the blocked rows.
    const s3 = await startS3rver({ buckets: ['audit'] });
    cleanup.defer(() => s3.dispose());
    const client = await daemon.connect();
    const ref = `e2e-${randomBytes(4).toString('hex')}`;
    await client.request('credentials.set', { ref, kind: 's3', values: { access_key_id: S3RVER_KEYS.accessKeyId, secret_access_key: S3RVER_KEYS.secretAccessKey } });
    cleanup.defer(async () => {
      const again = await daemon.connect();
      await again.request('credentials.remove', { ref }).catch(() => undefined);
      await again.dispose();
    });
    await client.request('destinations.add', {
      name: 'team-bucket',
      config: { type: 's3-compatible', bucket: 'audit', endpoint: s3.endpoint, region: 'us-east-1', prefix: 'viewer', credentials: { source: 'keychain', ref } },
    });
    await client.dispose();
    await frame.locator('#filter-clear').click();
    await frame.locator('#filter-decision summary').click();
    await frame.locator('#filter-decision input[value="blocked"]').check();
    await frame.locator('#filter-apply').click();
    await frame.locator('#filter-chips', { hasText: 'decision: blocked' }).waitFor({ timeout: 15_000 });
    await frame.locator('#export').click();
    // Each quick pick: type its label and take the focused row (a hover over a description can cover rows).
    const choose = async (label: string) => {
      const input = page.locator('.quick-input-widget input');
      await page.locator('.quick-input-list .monaco-list-row', { hasText: label }).first().waitFor({ timeout: 30_000 });
      await input.fill(label);
      await page.locator('.quick-input-list .monaco-list-row.focused', { hasText: label }).waitFor({ timeout: 15_000 });
      await input.press('Enter');
    };
    await choose('team-bucket');
    await choose('hive');
    await choose('JSONL');
    await frame.locator('#banner', { hasText: 'Exported' }).waitFor({ timeout: 600_000 });
    const banner = await frame.locator('#banner').innerText();
    assert.match(banner, /\.jsonl/);
    const exported = [...(await s3.storedObjects('audit'))].filter(([key]) => key.startsWith('viewer/') && key.endsWith('.jsonl'));
    assert.ok(exported.length > 0, 'objects written');
    assert.ok(exported.some(([key]) => banner.includes(key.slice(key.lastIndexOf('/') + 1))), 'the banner lists objects written to the bucket');
    let exportedRows = 0;
    for (const [, bytes] of exported) {
      const rows = jsonLines<Entry>(bytes.toString('utf8'));
      assert.ok(rows.every((r) => r.decision === 'blocked'));
      exportedRows += rows.length;
    }
    assert.equal(exportedRows, SEEDED / 10);
    if (!REFRESH_DOCS) {
      // Tests do not change tracked files: the pictures of this run are in `artifacts`.
      const docsAfter = await Promise.all(DOC_PICTURES.map((name) => readFile(join(DOCS, name)).catch(() => null)));
      assert.deepEqual(docsAfter, docsBefore, 'docs/ pictures unchanged (refresh them with `npm run docs:screenshots`)');
    }
  } catch (error: unknown) {
    await workbench.screenshot(join(artifacts, 'audit-log-failure.png')).catch(() => undefined);
    throw error;
  }
});
