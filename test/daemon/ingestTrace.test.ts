import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import type { IngestTraceFile } from '../../daemon/ingestTrace.ts';
import { startDaemonProcess } from '../support/daemonProcess.ts';
import { tempDir } from '../support/tempDir.ts';

test('AI_AUDIT_TRACE_INGEST: the daemon writes the times of its frames and batches at exit, times only', async () => {
  const home = await tempDir('ingest-trace');
  const out = await tempDir('ingest-trace-out');
  try {
    const file = join(out.path, 'trace.json');
    const key = randomBytes(32).toString('base64');
    const daemon = await startDaemonProcess(home.path, { AI_AUDIT_MASTER_KEY: key, AI_AUDIT_TRACE_INGEST: file });
    const client = await daemon.connect();
    await Promise.all(Array.from({ length: 3 }, (_, i) => client.request('ingest', { events: [{ kind: 'chat.input', input: `secret text ${i}` }] })));
    await client.dispose();
    assert.equal(await daemon.stop(), 0);
    const text = await readFile(file, 'utf8');
    assert.ok(!text.includes('secret text'), 'times only, never content');
    const trace = JSON.parse(text) as IngestTraceFile;
    assert.ok(trace.frames.length >= 3);
    for (const [start, end] of trace.frames) assert.ok(end >= start);
    // Every event of the three requests is in a traced batch, whose fdatasync ended before the last answer.
    assert.ok(trace.batches.reduce((n, b) => n + b[5], 0) >= 3);
    for (const [turn, gathered, commit, write, synced] of trace.batches) assert.ok(turn <= gathered && gathered <= commit && commit <= write && write <= synced);
  } finally {
    await home.dispose();
    await out.dispose();
  }
});
