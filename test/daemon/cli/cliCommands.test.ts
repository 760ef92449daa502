import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Entry } from '../../../daemon/protocol/entry.ts';
import { listSegments } from '../../../daemon/store/segmentPaths.ts';
import { runCliProcess, startDaemonProcess, type DaemonProcess } from '../../support/daemonProcess.ts';
import { tempDir } from '../../support/tempDir.ts';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const jsonLines = (text: string): Array<Record<string, unknown>> =>
  text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);

// Each test gets a daemon and store of its own and sets up what it asserts: no test depends on another's writes.
describe('ai-audit CLI against a running daemon', () => {
  let home: { path: string; dispose(): Promise<void> };
  let daemon: DaemonProcess;
  const env = { AI_AUDIT_MASTER_KEY: randomBytes(32).toString('base64'), AI_AUDIT_HOME: '' };
  const cli = (args: string[], input?: string) =>
    runCliProcess([...args, '--home', home.path], input === undefined ? { env } : { env, input });
  const ingest = async (...events: Array<Record<string, unknown>>): Promise<Array<Record<string, unknown>>> => {
    const result = await cli(['ingest', '-'], events.map((e) => JSON.stringify(e)).join('\n'));
    assert.equal(result.code, 0, result.stdout + result.stderr);
    return jsonLines(result.stdout);
  };

  beforeEach(async () => {
    home = await tempDir('cli');
    daemon = await startDaemonProcess(home.path, env);
  });
  afterEach(async () => {
    await daemon?.stop();
    await home?.dispose();
  });

  test('ingest prints one ack per line and names the line of each bad one; the rest still go in', async () => {
    const input = [
      JSON.stringify({ kind: 'chat.input', input: 'first', model: 'gpt-4', actor: { user_id: 'u1' } }),
      '{not json',
      '',
      JSON.stringify({ kind: 'chat.input', risk_score: 'very' }),
      JSON.stringify({ kind: 'governance.check', allowed: false, model: 'gpt-4', customer_id: 'c1', reason: 'policy', risk_score: 0.9 }),
    ].join('\n');
    const result = await cli(['ingest', '-'], input);
    assert.equal(result.code, 1, result.stderr);
    const lines = jsonLines(result.stdout);
    assert.equal(lines.length, 4);
    assert.equal(lines[0]?.seq, 1);
    assert.deepEqual(lines[1], { line: 2, error: { code: 'bad_json', message: 'not valid JSON' } });
    assert.equal(lines[2]?.line, 4);
    assert.equal((lines[2]?.error as { code: string }).code, 'invalid_params');
    assert.equal(lines[3]?.seq, 2);
  });

  test('ingest from a file; a missing file is a usage error', async () => {
    const file = join(home.path, '..', `${randomBytes(4).toString('hex')}.jsonl`);
    await writeFile(file, `${JSON.stringify({ kind: 'mcp.call', mcp_server: 'github', call_type: 'tools/call', response_status: 'success', user_id: 'u2' })}\n`);
    const ok = await cli(['ingest', file]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(jsonLines(ok.stdout)[0]?.seq, 1);
    assert.equal((JSON.parse((await cli(['query', '--limit', '1'])).stdout) as Entry).mcp?.server, 'github');
    const missing = await cli(['ingest', join(home.path, 'nope.jsonl')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /no such file/);
  });

  test('query filters, newest first, --limit and --all', async () => {
    await ingest(
      { kind: 'chat.input', input: 'first', model: 'gpt-4', actor: { user_id: 'u1' } },
      { kind: 'governance.check', allowed: false, model: 'gpt-4', customer_id: 'c1', reason: 'policy', risk_score: 0.9 },
      { kind: 'mcp.call', mcp_server: 'github', call_type: 'tools/call', response_status: 'success', user_id: 'u2' },
    );
    const all = await cli(['query', '--all']);
    assert.equal(all.code, 0, all.stderr);
    assert.deepEqual(jsonLines(all.stdout).map((e) => e.seq), [3, 2, 1]);
    const blocked = jsonLines((await cli(['query', '--decision', 'blocked'])).stdout) as unknown as Entry[];
    assert.deepEqual(blocked.map((e) => e.seq), [2]);
    const byModel = jsonLines((await cli(['query', '--model', 'gpt-4', '--limit', '1'])).stdout);
    assert.deepEqual(byModel.map((e) => e.seq), [2]);
    const mcp = jsonLines((await cli(['query', '--kind', 'mcp.call', '--user', 'u2'])).stdout) as unknown as Entry[];
    assert.equal(mcp[0]?.mcp?.server, 'github');
    const bad = await cli(['query', '--since', 'yesterday']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /ISO 8601/);
    assert.equal((await cli(['query', '--limit', '5', '--all'])).code, 2);
    assert.equal((await cli(['query', '--bogus'])).code, 2);
  });

  test('status and keys status report the daemon', async () => {
    const status = await cli(['status', '--json']);
    assert.equal(status.code, 0);
    const health = JSON.parse(status.stdout) as { running: boolean; last_seq: number; key_source: string };
    assert.equal(health.running, true);
    assert.equal(health.key_source, 'master-key');
    const keys = await cli(['keys', 'status', '--json']);
    assert.match((JSON.parse(keys.stdout) as { signing_public_key: string }).signing_public_key, /BEGIN PUBLIC KEY/);
  });

  test('decrypt shows encrypted content and is itself recorded; hash-mode entries have nothing to decrypt', async () => {
    const [hashed] = await ingest({ kind: 'chat.input', input: 'kept as a hash' });
    assert.equal((await cli(['settings', '--content-mode', 'encrypted'])).code, 0);
    const [ack] = await ingest({ kind: 'chat.input', input: 'decrypt me please' });
    const result = await cli(['decrypt', String(ack?.seq), '--reason', 'incident 7']);
    assert.equal(result.code, 0, result.stderr);
    const shown = JSON.parse(result.stdout) as { input: string; audit_seq: number };
    assert.equal(shown.input, 'decrypt me please');
    const audit = jsonLines((await cli(['query', '--kind', 'audit.decrypt'])).stdout) as unknown as Entry[];
    assert.equal(audit[0]?.seq, shown.audit_seq);
    assert.deepEqual(audit[0]?.audit, { target_seq: ack?.seq, target_id: ack?.id, reason: 'incident 7' });
    const settingsAudit = jsonLines((await cli(['query', '--kind', 'audit.settings'])).stdout) as unknown as Entry[];
    assert.deepEqual(settingsAudit[0]?.audit, { changed: { content_mode: { from: 'hash', to: 'encrypted' } } });
    const notEncrypted = await cli(['decrypt', String(hashed?.seq)]);
    assert.equal(notEncrypted.code, 1);
    assert.match(notEncrypted.stderr, /not_encrypted/);
    assert.equal((await cli(['decrypt', '9999'])).code, 1);
  });

  test('keys rotate: new active ids, old content still decrypts, checkpoints verify', async () => {
    assert.equal((await cli(['settings', '--content-mode', 'encrypted'])).code, 0);
    await ingest({ kind: 'chat.input', input: 'decrypt me please' });
    const before = JSON.parse((await cli(['keys', 'status', '--json'])).stdout) as { encryption_key_id: string };
    const rotated = await cli(['keys', 'rotate', '--json']);
    assert.equal(rotated.code, 0, rotated.stderr);
    const after = JSON.parse(rotated.stdout) as { encryption_key_id: string; encryption_key_ids: string[] };
    assert.notEqual(after.encryption_key_id, before.encryption_key_id);
    assert.ok(after.encryption_key_ids.includes(before.encryption_key_id));
    // The rotation is on the record, naming the ids before and after.
    const recorded = jsonLines((await cli(['query', '--kind', 'audit.keys.rotate'])).stdout) as unknown as Entry[];
    assert.equal(recorded.length, 1);
    assert.deepEqual(recorded[0]?.audit?.encryption_key_id, { from: before.encryption_key_id, to: after.encryption_key_id });
    const encrypted = (jsonLines((await cli(['query', '--kind', 'chat.input', '--limit', '1'])).stdout) as unknown as Entry[])[0];
    assert.equal(encrypted?.content.key_id, before.encryption_key_id);
    assert.equal((JSON.parse((await cli(['decrypt', String(encrypted?.seq)])).stdout) as { input: string }).input, 'decrypt me please');
    const verify = await cli(['verify']);
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
  });

  test('cleanup runs retention (recorded) and verify still passes', async () => {
    const result = await cli(['cleanup', '--older-than', '30']);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout), { dropped_segments: 0, dropped_entries: 0, anchor_seq: null });
    const audit = jsonLines((await cli(['query', '--kind', 'audit.retention'])).stdout) as unknown as Entry[];
    assert.equal(audit[0]?.audit?.older_than_days, 30);
    assert.equal((await cli(['verify'])).code, 0);
  });

  test('usage errors exit 2; an unknown command prints the usage', async () => {
    const unknown = await cli(['explode']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /Usage: ai-audit/);
    assert.equal((await cli(['keys', 'shred'])).code, 2);
    assert.equal((await cli(['daemon', '--port', 'abc'])).code, 2);
  });
});

describe('ai-audit CLI without a daemon', () => {
  let home: { path: string; dispose(): Promise<void> };
  const env = { AI_AUDIT_MASTER_KEY: randomBytes(32).toString('base64') };
  before(async () => {
    home = await tempDir('cli-offline');
  });
  after(() => home?.dispose());

  test('commands that need the daemon say how to start it (exit 2); status says not running (exit 1)', async () => {
    const query = await runCliProcess(['query', '--home', home.path], { env });
    assert.equal(query.code, 2);
    assert.match(query.stderr, /ai-audit daemon --home/);
    const status = await runCliProcess(['status', '--home', home.path], { env });
    assert.equal(status.code, 1);
    assert.match(status.stdout, /not running/);
  });

  test('verify of a folder with no store is a usage error', async () => {
    const result = await runCliProcess(['verify', '--home', `${home.path}-missing`], { env });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /no audit store/);
  });

  test('AI_AUDIT_HOME is honoured like --home', async () => {
    const daemon = await startDaemonProcess(home.path, env);
    try {
      const status = await runCliProcess(['status', '--json'], { env: { ...env, AI_AUDIT_HOME: home.path } });
      assert.equal(status.code, 0, status.stderr);
      assert.equal((JSON.parse(status.stdout) as { pid: number }).pid, daemon.child.pid);
    } finally {
      await daemon.stop();
    }
  });

  test('verify works offline on a stopped store: exit 0 intact, exit 1 naming seq, segment and reason when edited', async () => {
    const daemon = await startDaemonProcess(home.path, env);
    await runCliProcess(['ingest', '-', '--home', home.path], {
      env,
      input: `${JSON.stringify({ kind: 'chat.input', reason: 'one' })}\n${JSON.stringify({ kind: 'chat.input', reason: 'two' })}\n`,
    });
    await daemon.stop();
    const intact = await runCliProcess(['verify', '--home', home.path], { env });
    assert.equal(intact.code, 0, intact.stdout + intact.stderr);
    assert.match(intact.stdout, /^ok: /);
    const [segment] = await listSegments(home.path);
    const path = join(home.path, segment?.file ?? '');
    await writeFile(path, (await readFile(path, 'utf8')).replace('"reason":"two"', '"reason":"TWO"'));
    const broken = await runCliProcess(['verify', '--json', '--home', home.path], { env });
    assert.equal(broken.code, 1);
    const report = JSON.parse(broken.stdout) as { ok: boolean; problem: { seq: number; segment: string; code: string } };
    assert.equal(report.ok, false);
    assert.equal(report.problem.code, 'hash_mismatch');
    assert.equal(report.problem.segment, segment?.file);
    const human = await runCliProcess(['verify', '--home', home.path], { env });
    assert.match(human.stdout, new RegExp(`FAILED at seq ${report.problem.seq} in ${segment?.file}`));
  });

  test('npx ai-audit runs the CLI from the repository root', () => {
    const out = execFileSync('npx', ['--no-install', 'ai-audit', '--help'], { cwd: root, encoding: 'utf8', env: { ...process.env, npm_config_update_notifier: 'false' } });
    assert.match(out, /Usage: ai-audit <command>/);
  });
});
