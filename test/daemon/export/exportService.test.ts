import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { DuckDBInstance } from '@duckdb/node-api';
import type { DaemonClient } from '../../../daemon/client/daemonClient.ts';
import { AuditError, ErrorCodes } from '../../../daemon/protocol/errors.ts';
import { canonicalJson } from '../../../daemon/store/canonicalJson.ts';
import { keyOfFileName } from '../../../daemon/export/destinations/folderNames.ts';
import type { ExportManifest, ExportRun, Schedule } from '../../../daemon/protocol/exports.ts';
import { listSegments } from '../../../daemon/store/segmentPaths.ts';
import { runCliProcess, startDaemonProcess, type DaemonProcess } from '../../support/daemonProcess.ts';
import { exportedKeys, exportedRows, localEntries } from '../../support/exportFiles.ts';
import { tempDir } from '../../support/tempDir.ts';

const DAY = 86_400_000;

/** Events spread over several days and hours, with the fields filters look at. */
function events(count: number, offset = 0): string {
  const base = Date.parse('2026-11-20T00:00:00Z');
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    const n = i + offset;
    lines.push(
      JSON.stringify({
        kind: n % 5 === 0 ? 'governance.check' : 'chat.input',
        ts: new Date(base + (n % 4) * DAY + (n % 7) * 3_600_000 + n * 1000).toISOString(),
        input: `prompt ${n}`,
        model: `model-${n % 3}`,
        actor: { user_id: `user-${n % 2}` },
        ...(n % 5 === 0 ? { allowed: n % 10 !== 0, customer_id: 'acme', risk_score: (n % 10) / 10 } : {}),
      }),
    );
  }
  return lines.join('\n') + '\n';
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe('exports to a folder from a real daemon', () => {
  let home: { path: string; dispose(): Promise<void> };
  let out: { path: string; dispose(): Promise<void> };
  let daemon: DaemonProcess;
  let client: DaemonClient;
  const secret = randomBytes(32).toString('base64');
  const env = { AI_AUDIT_MASTER_KEY: secret, AI_AUDIT_HOME: '' };
  const cli = (args: string[]) => runCliProcess([...args, '--home', home.path], { env });
  const stdouts: string[] = [];

  before(async () => {
    home = await tempDir('export');
    out = await tempDir('export-out');
    daemon = await startDaemonProcess(home.path, env);
    const ingest = await runCliProcess(['ingest', '-', '--home', home.path], { env, input: events(240) });
    assert.equal(ingest.code, 0, ingest.stderr);
    client = await daemon.connect();
  });
  after(async () => {
    await client?.dispose();
    await daemon?.stop();
    await home?.dispose();
    await out?.dispose();
  });

  const patterns = {
    hive: /^(exp\/)?year=\d{4}\/month=\d{2}\/day=\d{2}\/\d{12}-\d{12}\.jsonl(\.gz)?$/,
    // On disk the key's `:` is `%3A` (folderNames.ts): Windows refuses `:` in file names.
    lakera: /^(exp\/)?\d{4}\/\d{2}\/\d{2}\/\d{2}\/\d{4}-\d{2}-\d{2}T\d{2}%3A\d{2}%3A\d{2}\+00%3A00_\d{12}-\d{12}\.jsonl(\.gz)?$/,
    obot: /^(exp|mcp-audit-logs)\/\d{4}\/\d{2}\/\d{2}\/team-\d{8}T\d{6}Z-\d{12}-\d{12}\.jsonl(\.gz)?$/,
  } as const;

  for (const layout of ['hive', 'lakera', 'obot'] as const) {
    for (const gzip of [false, true]) {
      test(`${layout}${gzip ? ' + gzip' : ''}: every entry round-trips byte for byte, in its events' date folder`, async () => {
        const target = join(out.path, `${layout}-${gzip ? 'gz' : 'plain'}`);
        const args = ['export', '--to', target, '--layout', layout, '--name', 'team', '--json'];
        if (gzip) args.push('--gzip');
        if (layout === 'lakera') args.push('--prefix', 'exp');
        const result = await cli(args);
        assert.equal(result.code, 0, result.stderr);
        stdouts.push(result.stdout, result.stderr);
        const run = JSON.parse(result.stdout) as ExportRun;
        assert.equal(run.status, 'succeeded');
        assert.ok(run.audit_seq !== null && run.audit_seq > run.seq_to, 'the run is recorded as an audit entry after its range');

        const local = (await localEntries(client)).filter((e) => e.seq <= run.seq_to);
        const rows = await exportedRows(target);
        rows.sort((a, b) => a.entry.seq - b.entry.seq);
        assert.equal(rows.length, local.length);
        assert.equal(run.rows, local.length);
        rows.forEach((row, i) => {
          const entry = local[i];
          assert.ok(entry !== undefined);
          assert.equal(row.line, canonicalJson(entry), `seq ${entry.seq}`);
          // Dates are the events' dates (ts), not the export's.
          const ts = new Date(entry.ts).toISOString();
          const folder = layout === 'hive' ? `year=${ts.slice(0, 4)}/month=${ts.slice(5, 7)}/day=${ts.slice(8, 10)}/` : `${ts.slice(0, 4)}/${ts.slice(5, 7)}/${ts.slice(8, 10)}/`;
          assert.ok(row.key.includes(folder), `${row.key} holds seq ${entry.seq} of ${entry.ts}`);
          if (layout === 'lakera') assert.ok(row.key.includes(`/${ts.slice(11, 13)}/`), `${row.key}: hour folder of ${entry.ts}`);
        });
        const keys = await exportedKeys(target);
        const data = keys.filter((k) => !k.includes('_manifests/'));
        assert.ok(data.length >= 4, 'one object per partition at least');
        for (const key of data) assert.match(key, patterns[layout]);
        for (const key of keys) assert.doesNotMatch(key, /[<>:"|?*]/, 'a file name Windows accepts');
        // Each object's name carries the seq range of its rows; the run names keys, the folder maps them.
        for (const object of run.objects) {
          const inside = rows.filter((r) => keyOfFileName(r.key) === object.key).map((r) => r.entry.seq);
          assert.deepEqual([Math.min(...inside), Math.max(...inside), inside.length], [object.first_seq, object.last_seq, object.rows]);
        }
        const manifests = keys.filter((k) => k.endsWith('.manifest.json'));
        assert.equal(manifests.length, 1);
        const verify = await cli(['verify-export', target]);
        assert.equal(verify.code, 0, verify.stdout + verify.stderr);
      });
    }
  }

  test('DuckDB reads the Hive export as partitions with the same counts as the store', async () => {
    const target = join(out.path, 'hive-gz');
    const [manifestKey] = (await exportedKeys(target)).filter((k) => k.endsWith('.manifest.json'));
    const manifest = JSON.parse(await readFile(join(target, manifestKey ?? ''), 'utf8')) as ExportManifest;
    const local = (await localEntries(client)).filter((e) => e.seq <= manifest.seq_to);
    const instance = await DuckDBInstance.create(':memory:');
    const connection = await instance.connect();
    try {
      const glob = join(target, '**', '*.jsonl.gz').replaceAll("'", "''");
      const reader = await connection.runAndReadAll(
        `SELECT year, month, day, count(*) AS n, count(DISTINCT seq) AS seqs FROM read_json_auto('${glob}', hive_partitioning = true, format = 'newline_delimited') GROUP BY ALL ORDER BY ALL`,
      );
      const byDay = new Map<string, number>();
      for (const entry of local) {
        const day = new Date(entry.ts).toISOString().slice(0, 10);
        byDay.set(day, (byDay.get(day) ?? 0) + 1);
      }
      const rows = reader.getRowObjects().map((r) => ({ day: `${String(r.year)}-${String(r.month).padStart(2, '0')}-${String(r.day).padStart(2, '0')}`, n: Number(r.n), seqs: Number(r.seqs) }));
      assert.deepEqual(
        rows.map((r) => [r.day, r.n]),
        [...byDay.entries()].sort(([a], [b]) => a.localeCompare(b)),
      );
      for (const r of rows) assert.equal(r.n, r.seqs, 'no seq twice');
    } finally {
      connection.closeSync();
      instance.closeSync();
    }
  });

  test('query --from reads Hive exports (two places holding the same entries) with the output of the local query', async () => {
    const filters = ['--until', '2026-11-30T00:00:00Z', '--model', 'model-1', '--kind', 'governance.check', '--kind', 'chat.input', '--all'];
    const local = await cli(['query', ...filters]);
    assert.equal(local.code, 0, local.stderr);
    const exported = await cli(['query', '--from', join(out.path, 'hive-gz'), '--from', join(out.path, 'hive-plain'), ...filters]);
    assert.equal(exported.code, 0, exported.stderr);
    assert.ok(local.stdout.split('\n').length > 50);
    assert.equal(exported.stdout, local.stdout);
    const page = await cli(['query', '--from', join(out.path, 'hive-gz'), '--since', '2026-11-21T00:00:00Z', '--until', '2026-11-30T00:00:00Z', '--limit', '7']);
    assert.equal(page.stdout, (await cli(['query', '--since', '2026-11-21T00:00:00Z', '--until', '2026-11-30T00:00:00Z', '--limit', '7'])).stdout);
  });

  test('filters export only matching entries; the manifest says it is not the complete chain', async () => {
    const target = join(out.path, 'filtered');
    const result = await cli(['export', '--to', target, '--kind', 'governance.check', '--customer', 'acme', '--json']);
    assert.equal(result.code, 0, result.stderr);
    const rows = await exportedRows(target);
    assert.equal(rows.length, 48);
    assert.ok(rows.every((r) => r.entry.kind === 'governance.check'));
    const [manifestKey] = (await exportedKeys(target)).filter((k) => k.endsWith('.manifest.json'));
    const manifest = JSON.parse(await readFile(join(target, manifestKey ?? ''), 'utf8')) as ExportManifest;
    assert.equal(manifest.complete, false);
    assert.deepEqual(manifest.filter, { kind: 'governance.check', customer: 'acme' });
    assert.equal((await cli(['verify-export', target])).code, 0);
  });

  test('destinations: add, list, test (write, read, delete), remove; an unknown name is not_found', async () => {
    const target = join(out.path, 'named');
    assert.equal((await cli(['destinations', 'add', 'local', '--to', target])).code, 0);
    const list = await cli(['destinations', 'list', '--json']);
    assert.deepEqual(JSON.parse(list.stdout), [{ name: 'local', config: { type: 'dir', path: target, prefix: '' }, location: target }]);
    const probe = await cli(['destinations', 'test', 'local', '--json']);
    assert.equal(probe.code, 0, probe.stderr);
    assert.deepEqual(
      (({ write, read, delete: del }) => ({ write, read, delete: del }))(JSON.parse(probe.stdout) as { write: boolean; read: boolean; delete: boolean }),
      { write: true, read: true, delete: true },
    );
    assert.deepEqual(await exportedKeys(target), [], 'the probe object is gone');
    const again = await cli(['destinations', 'add', 'local', '--to', target]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /\[conflict\]/);
    const byName = await cli(['export', '--destination', 'local', '--json']);
    assert.equal(byName.code, 0, byName.stderr);
    assert.equal((JSON.parse(byName.stdout) as ExportRun).location, target);
    assert.equal((await cli(['destinations', 'remove', 'local'])).code, 0);
    const gone = await cli(['export', '--destination', 'local']);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /\[not_found\]/);
    const usage = await cli(['export', '--to', 'ftp://x/y']);
    assert.equal(usage.code, 2);
  });

  test('export.runs lists the runs with their objects; audit.export entries record them', async () => {
    const { runs } = await client.request('export.runs', { limit: 3 });
    assert.equal(runs.length, 3);
    assert.ok(runs.every((r) => r.status === 'succeeded' && r.manifests.length === 1));
    const audits = (await localEntries(client)).filter((e) => e.kind === 'audit.export');
    assert.ok(audits.length >= 8);
    assert.ok(audits.every((e) => typeof e.audit?.run_id === 'string'));
  });

  test('no secret in state, manifests, the daemon log or anything printed', async () => {
    const files = [join(home.path, 'state.json'), join(home.path, 'daemon.log')];
    for (const key of await exportedKeys(out.path)) if (key.endsWith('.manifest.json')) files.push(join(out.path, key));
    const token = (await readFile(join(home.path, 'token'), 'utf8')).trim();
    for (const file of files) {
      const text = await readFile(file, 'utf8');
      assert.ok(!text.includes(secret), `${file} holds the master key`);
      assert.ok(!text.includes(token), `${file} holds the daemon token`);
    }
    for (const text of [...stdouts, daemon.output()]) {
      assert.ok(!text.includes(secret));
      assert.ok(!text.includes(token));
    }
  });
});

describe('schedules under a controllable clock, across missed ticks and a SIGKILL mid-run', () => {
  let home: { path: string; dispose(): Promise<void> };
  let out: { path: string; dispose(): Promise<void> };
  let daemon: DaemonProcess;
  let clockFile: string;
  const env = { AI_AUDIT_MASTER_KEY: randomBytes(32).toString('base64'), AI_AUDIT_HOME: '', AI_AUDIT_TEST_CLOCK_FILE: '', AI_AUDIT_EXPORT_CHUNK: '10', AI_AUDIT_SEGMENT_MAX_BYTES: '65536' };
  const setClock = (iso: string) => writeFile(clockFile, iso);
  const ingest = async (count: number, offset: number) => {
    const result = await runCliProcess(['ingest', '-', '--home', home.path], { env, input: events(count, offset) });
    assert.equal(result.code, 0, result.stderr);
  };
  const schedule = async (client: DaemonClient, name: string): Promise<Schedule> => {
    const found = (await client.request('schedules.list', {})).schedules.find((s) => s.name === name);
    assert.ok(found !== undefined);
    return found;
  };

  before(async () => {
    home = await tempDir('sched');
    out = await tempDir('sched-out');
    clockFile = join(home.path, '..', `${randomBytes(4).toString('hex')}.clock`);
    env.AI_AUDIT_TEST_CLOCK_FILE = clockFile;
    await setClock('2026-12-01T10:00:00Z');
    daemon = await startDaemonProcess(home.path, env);
  });
  after(async () => {
    await daemon?.kill9();
    await home?.dispose();
    await out?.dispose();
  });

  test('missed hourly ticks make one catch-up run; a killed run resumes with the same names; no gap, no duplicate', async () => {
    await ingest(25, 0);
    let client = await daemon.connect();
    const target = join(out.path, 'hourly');
    await client.request('schedules.add', {
      name: 'hourly',
      destination: { type: 'dir', path: target, prefix: '' },
      timing: { every: 'hour', minute: 0 },
      time_zone: 'Europe/Berlin',
      layout: 'hive',
      gzip: true,
    });
    // Europe/Berlin is UTC+1 in December: the next whole hour there is 11:00 UTC.
    assert.equal((await schedule(client, 'hourly')).next_run_at, '2026-12-01T11:00:00.000Z');

    // Three ticks (11, 12, 13 UTC) pass while nothing looks: one run catches up.
    await setClock('2026-12-01T13:30:00Z');
    const first = await waitFor('the catch-up run', async () => {
      const s = await schedule(client, 'hourly');
      return s.last_run?.status === 'succeeded' ? s : undefined;
    });
    assert.equal(first.watermark_seq, 25);
    assert.equal(first.next_run_at, '2026-12-01T14:00:00.000Z');
    assert.equal((await client.request('export.runs', { schedule: 'hourly' })).runs.length, 1);

    await ingest(2000, 25);
    await setClock('2026-12-01T14:00:05Z');
    const running = await waitFor('a run halfway', async () => {
      const [run] = (await client.request('export.runs', { schedule: 'hourly', limit: 1 })).runs;
      return run !== undefined && run.status === 'running' && run.manifests.length >= 3 ? run : undefined;
    });
    await client.dispose();
    await daemon.kill9();
    const before = await exportedKeys(target);
    const state = JSON.parse(await readFile(join(home.path, 'state.json'), 'utf8')) as { exports: { schedules: Schedule[] } };
    const killed = state.exports.schedules.find((x) => x.name === 'hourly');
    assert.equal(killed?.pending?.run_id, running.id, 'the kill came in the middle of the run');
    assert.ok((killed?.watermark_seq ?? 0) < running.seq_to);

    daemon = await startDaemonProcess(home.path, env);
    client = await daemon.connect();
    const resumed = await waitFor('the resumed run', async () => {
      const [run] = (await client.request('export.runs', { schedule: 'hourly', limit: 1 })).runs;
      return run?.id === running.id && run.status === 'succeeded' ? run : undefined;
    }, 120_000);
    assert.equal(resumed.seq_to, running.seq_to, 'the same range is resumed');
    const after = await exportedKeys(target);
    for (const key of before) assert.ok(after.includes(key) || key.endsWith('.partial'), `${key} kept its name`);

    const rows = await exportedRows(target);
    const seqs = rows.map((r) => r.entry.seq).sort((a, b) => a - b);
    const s = await schedule(client, 'hourly');
    assert.equal(s.pending, null);
    assert.equal(seqs.length, s.watermark_seq, 'no duplicate');
    seqs.forEach((seq, i) => assert.equal(seq, i + 1, 'no gap'));
    const verify = await runCliProcess(['verify-export', target], { env });
    assert.equal(verify.code, 0, verify.stdout);

    // The next tick exports exactly what came after the watermark (the audit entries of the runs).
    const watermark = s.watermark_seq;
    await setClock('2026-12-01T15:00:05Z');
    const next = await waitFor('the 15:00 run', async () => {
      const [run] = (await client.request('export.runs', { schedule: 'hourly', limit: 1 })).runs;
      return run !== undefined && run.id !== running.id && run.status === 'succeeded' ? run : undefined;
    });
    assert.equal(next.seq_from, watermark + 1);
    const all = (await exportedRows(target)).map((r) => r.entry.seq).sort((a, b) => a - b);
    all.forEach((seq, i) => assert.equal(seq, i + 1));
    await client.dispose();
  });

  test('a run with nothing new still writes its manifest; retention keeps what a schedule has not exported', async () => {
    const client = await daemon.connect();
    const target = join(out.path, 'none');
    await client.request('schedules.add', {
      name: 'mcp-only',
      destination: { type: 'dir', path: target, prefix: '' },
      timing: { every: 'day', time: '02:00' },
      filter: { kind: 'mcp.call' },
    });
    const run = await client.request('schedules.run', { name: 'mcp-only' });
    assert.equal(run.rows, 0);
    const runEmpty = await client.request('schedules.run', { name: 'mcp-only' });
    assert.equal(runEmpty.rows, 0);
    const manifests = (await exportedKeys(target)).filter((k) => k.endsWith('.manifest.json'));
    assert.ok(manifests.length >= 2, 'every run wrote a manifest');
    assert.equal((await runCliProcess(['verify-export', target], { env })).code, 0);

    await client.request('schedules.disable', { name: 'mcp-only' });
    await client.request('schedules.edit', { name: 'mcp-only', timing: { every: 'week', day: 1, time: '03:00' }, time_zone: 'America/New_York' });
    const edited = await schedule(client, 'mcp-only');
    assert.equal(edited.enabled, false);
    assert.deepEqual(edited.timing, { every: 'week', day: 1, time: '03:00' });

    // A schedule added now holds every entry from seq 1: retention drops nothing it has not exported …
    await client.request('schedules.add', { name: 'holder', destination: { type: 'dir', path: join(out.path, 'holder'), prefix: '' }, timing: { every: 'month', day: 31, time: '23:59' }, enabled: false });
    assert.equal((await schedule(client, 'holder')).watermark_seq, 0);
    const kept = await client.request('retention.run', { older_than_days: 0 });
    assert.equal(kept.dropped_entries, 0);
    assert.equal((await client.request('health', {})).first_seq, 1);
    // … unless forced.
    const forced = await client.request('retention.run', { older_than_days: 0, force: true });
    assert.ok(forced.dropped_entries > 0);
    await client.request('schedules.remove', { name: 'holder' });
    await client.request('schedules.remove', { name: 'mcp-only' });
    assert.deepEqual((await client.request('schedules.list', {})).schedules.map((x) => x.name), ['hourly']);
    await client.dispose();
  });

  test("the scheduler's own runs send no export.progress (no connection asked); their end reaches tail subscribers as audit.export", async () => {
    const watcher = await daemon.connect();
    const asker = await daemon.connect();
    const progress: Array<{ on: string; schedule: string | null }> = [];
    const ended: Array<Record<string, unknown>> = [];
    const subs = [
      watcher.on('export.progress', (p) => progress.push({ on: 'watcher', schedule: p.schedule })),
      asker.on('export.progress', (p) => progress.push({ on: 'asker', schedule: p.schedule })),
      watcher.on('tail.entries', (n) => {
        for (const entry of n.entries) if (entry.kind === 'audit.export') ended.push(entry.audit as Record<string, unknown>);
      }),
    ];
    try {
      await watcher.request('tail.subscribe', { filter: { kind: 'audit.export' } });
      await ingest(30, 3000);
      await watcher.request('schedules.add', {
        name: 'watched',
        destination: { type: 'dir', path: join(out.path, 'watched'), prefix: '' },
        timing: { every: 'hour', minute: 30 },
        time_zone: 'UTC',
        layout: 'lakera',
        gzip: false,
      });
      assert.equal((await schedule(watcher, 'watched')).next_run_at, '2026-12-01T15:30:00.000Z');
      await setClock('2026-12-01T15:30:05Z');
      const done = await waitFor('the scheduled run in the tail', async () => ended.find((a) => a.schedule === 'watched'));
      assert.equal(done.status, 'succeeded');
      assert.equal(progress.length, 0, `nobody asked for the scheduled run: ${JSON.stringify(progress)}`);
      // The run started by a client reports its progress to that client only.
      await ingest(5, 4000);
      await asker.request('schedules.run', { name: 'watched' });
      assert.ok(progress.length > 0 && progress.every((p) => p.on === 'asker' && p.schedule === 'watched'), JSON.stringify(progress));
      await waitFor('the asked run in the tail', async () => (ended.filter((a) => a.schedule === 'watched').length === 2 ? true : undefined));
      assert.equal((await runCliProcess(['verify-export', join(out.path, 'watched')], { env })).code, 0, 'a Lakera export to a folder verifies');
    } finally {
      for (const sub of subs) sub.dispose();
      await watcher.dispose();
      await asker.dispose();
    }
  });
});

describe('a one-time export with --since starts at the first segment that may match', () => {
  test('older segments are not read: the run starts past seq 1 and still holds every matching entry', async () => {
    const home = await tempDir('export-since');
    const out = await tempDir('export-since-out');
    // Small segments, so that the old events fill several that the export can skip.
    const env = { AI_AUDIT_MASTER_KEY: randomBytes(32).toString('base64'), AI_AUDIT_HOME: '', AI_AUDIT_SEGMENT_MAX_BYTES: '4096' };
    const daemon = await startDaemonProcess(home.path, env);
    const client = await daemon.connect();
    try {
      const line = (ts: string, i: number) => JSON.stringify({ kind: 'chat.input', ts, input: `prompt ${i}`, model: 'm' });
      const old = Array.from({ length: 80 }, (_, i) => line(new Date(Date.parse('2026-01-05T00:00:00Z') + i * 60_000).toISOString(), i));
      const recent = Array.from({ length: 40 }, (_, i) => line(new Date(Date.parse('2026-11-05T00:00:00Z') + i * 60_000).toISOString(), 100 + i));
      for (const batch of [old, recent]) {
        const ingest = await runCliProcess(['ingest', '-', '--home', home.path], { env, input: batch.join('\n') + '\n' });
        assert.equal(ingest.code, 0, ingest.stderr);
      }
      const since = '2026-11-01T00:00:00.000Z';
      const exported = await runCliProcess(['export', '--to', out.path, '--since', since, '--json', '--home', home.path], { env });
      assert.equal(exported.code, 0, exported.stderr);
      const run = JSON.parse(exported.stdout) as ExportRun;
      assert.ok(run.seq_from > 1, `the run read the store from seq ${run.seq_from}`);

      const expected = (await localEntries(client)).filter((e) => e.ts >= since && e.seq <= run.seq_to).map((e) => e.seq);
      assert.equal(expected.length, 40);
      assert.deepEqual((await exportedRows(out.path)).map((r) => r.entry.seq).sort((a, b) => a - b), expected);
      assert.equal((await runCliProcess(['verify-export', out.path], { env })).code, 0);
    } finally {
      await client.dispose();
      await daemon.stop();
      await home.dispose();
      await out.dispose();
    }
  });
});

/** Overwrites `bytes` in place at `at` chars into entry 7's line of the first segment (its length kept). */
async function overwriteEntry7(home: string, edit: (line: string) => { at: number; bytes: string }): Promise<void> {
  const [segment] = await listSegments(home);
  assert.ok(segment !== undefined);
  const path = join(home, segment.file);
  const lines = (await readFile(path, 'utf8')).split('\n');
  const index = lines.findIndex((l) => l.includes(',"seq":7,'));
  assert.ok(index >= 0);
  const { at, bytes } = edit(lines[index] as string);
  const offset = Buffer.byteLength(lines.slice(0, index).map((l) => l + '\n').join('')) + at;
  const file = await open(path, 'r+');
  await file.write(Buffer.from(bytes), 0, Buffer.byteLength(bytes), offset);
  await file.close();
}

/**
 * Exports 20 entries after `damage` through the protocol and the CLI; both must fail with `reason`, and the
 * run records (export.runs) and the CLI must name it. Returns the folder's path for more checks.
 */
async function refusedExport(name: string, reason: string, damage: (home: string) => Promise<void>, check: (out: string) => Promise<void>): Promise<void> {
  const home = await tempDir(name);
  const out = await tempDir(`${name}-out`);
  const env = { AI_AUDIT_MASTER_KEY: randomBytes(32).toString('base64'), AI_AUDIT_HOME: '' };
  const daemon = await startDaemonProcess(home.path, env);
  try {
    const ingest = await runCliProcess(['ingest', '-', '--home', home.path], { env, input: events(20) });
    assert.equal(ingest.code, 0, ingest.stderr);
    await damage(home.path);

    const client = await daemon.connect();
    try {
      const failed = await client
        .request('export.run', { destination: { type: 'dir', path: out.path, prefix: '' }, layout: 'hive', gzip: false })
        .then(
          () => assert.fail('the export succeeded'),
          (error: unknown) => error,
        );
      assert.ok(failed instanceof AuditError, String(failed));
      assert.equal(failed.code, ErrorCodes.DestinationError, failed.message);
      assert.equal(failed.data?.reason, reason, failed.message);
      // The run record keeps the code, the reason and the message (written for people, no secret in it).
      const [run] = (await client.request('export.runs', { limit: 1 })).runs;
      assert.deepEqual(run?.error, { code: ErrorCodes.DestinationError, reason, message: failed.message });
      await check(out.path);
    } finally {
      await client.dispose();
    }
    const cli = await runCliProcess(['export', '--to', out.path, '--home', home.path], { env });
    assert.equal(cli.code, 1, cli.stderr);
    assert.ok(cli.stderr.includes(`[${ErrorCodes.DestinationError}: ${reason}]`), cli.stderr);
  } finally {
    await daemon.stop();
    await home.dispose();
    await out.dispose();
  }
}

describe('a damaged stored line during an export', () => {
  test('is refused with store_damaged: neither skipped (a gap) nor uploaded as it is', async () => {
    // The head of entry 7's line is overwritten in place (its length and its tail, with seq and ts, kept).
    await refusedExport('export-damaged', 'store_damaged', (home) => overwriteEntry7(home, () => ({ at: 0, bytes: '#DAMAGED#' })), async (out) => {
      for (const key of await exportedKeys(out)) {
        assert.ok(!(await readFile(join(out, key), 'utf8')).includes('#DAMAGED#'), `${key} holds the damaged line`);
      }
      assert.ok((await exportedRows(out)).every((r) => r.entry.seq < 7), 'no row from the refused chunk');
    });
  });

  test('a seq gap (no entry 7) is refused with store_gap, not invalid_config', async () => {
    // Entry 7's seq reads 9 (same length): to the export, entry 7 is missing.
    await refusedExport('export-gap', 'store_gap', (home) => overwriteEntry7(home, (line) => ({ at: line.indexOf(',"seq":7,') + 7, bytes: '9' })), async (out) => {
      assert.ok((await exportedRows(out)).every((r) => r.entry.seq < 7), 'no row past the gap');
    });
  });
});
