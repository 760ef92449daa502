import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { KeyMaterial } from '../../../daemon/keys/keyMaterial.ts';
import type { Entry } from '../../../daemon/protocol/entry.ts';
import type { VerifyReport } from '../../../daemon/protocol/messages.ts';
import { AuditStore } from '../../../daemon/store/auditStore.ts';
import { CHECKPOINTS_FILE } from '../../../daemon/store/checkpoints.ts';
import { verifyStore } from '../../../daemon/store/chainVerifier.ts';
import { entryHash, entryLine } from '../../../daemon/store/entryHash.ts';
import { listSegments } from '../../../daemon/store/segmentPaths.ts';
import { tempDir } from '../../support/tempDir.ts';
import { testKeys } from '../../support/testKeys.ts';

describe('verifyStore finds each kind of tampering', () => {
  let home: { path: string; dispose(): Promise<void> };
  let keys: KeyMaterial;
  let segmentPath: string;

  const verify = () => verifyStore(home.path, { publicKeys: keys.signingPublicKeys });
  const lines = async (): Promise<string[]> => (await readFile(segmentPath, 'utf8')).split('\n').filter((l) => l !== '');
  const writeLines = (items: string[]) => writeFile(segmentPath, items.map((l) => `${l}\n`).join(''));

  beforeEach(async () => {
    home = await tempDir('verify');
    keys = testKeys();
    const store = await AuditStore.open({ home: home.path, keys, contentMode: () => 'hash', log: () => undefined });
    for (let i = 1; i <= 10; i++) await store.ingest([{ kind: 'chat.input', input: `prompt ${i}`, metadata: { n: i } }]);
    await store.close(); // writes the final signed checkpoint at seq 10
    const segments = await listSegments(home.path);
    assert.equal(segments.length, 1);
    segmentPath = join(home.path, segments[0]?.file ?? '');
  });
  afterEach(() => home.dispose());

  test('an untouched store verifies', async () => {
    const report = await verify();
    assert.equal(report.ok, true);
    assert.equal(report.entries_checked, 10);
    assert.equal(report.last_seq, 10);
    assert.equal(report.unsigned_tail, 0);
  });

  test('a flipped byte', async () => {
    const all = await lines();
    all[4] = (all[4] ?? '').replace('"n":5', '"n":6');
    await writeLines(all);
    const report = await verify();
    assert.equal(report.ok, false);
    assert.equal(report.problem?.seq, 5);
    assert.equal(report.problem?.code, 'hash_mismatch');
    assert.match(report.problem?.segment ?? '', /entries\/\d{4}\/\d{2}\/\d{2}\/000001\.jsonl$/);
  });

  // Verify hashes the stored bytes instead of serializing each entry again: an equivalent line in another
  // form (same entry once parsed) must still fail, whether a signature covers it or not.
  const rewrites: Array<[string, (line: string) => string]> = [
    ['white space after a colon', (line) => line.replace('":', '": ')],
    ['two members swapped', (line) => {
      const entry = JSON.parse(line) as Record<string, unknown>;
      const keys = Object.keys(entry);
      [keys[0], keys[1]] = [keys[1] ?? '', keys[0] ?? ''];
      return JSON.stringify(Object.fromEntries(keys.map((k) => [k, entry[k]])));
    }],
    ['the hash member moved to the front', (line) => {
      const member = /"hash":"[0-9a-f]{64}"/.exec(line)?.[0] ?? '';
      return `{${member},${line.slice(1).replace(`${member},`, '')}`;
    }],
    ['a character escaped', (line) => line.replace('"kind"', '"\\u006bind"')],
  ];
  for (const [name, rewrite] of rewrites) {
    test(`a signed line rewritten in an equivalent form: ${name}`, async () => {
      const all = await lines();
      const before = all[4] ?? '';
      all[4] = rewrite(before);
      assert.notEqual(all[4], before);
      assert.deepEqual(JSON.parse(all[4]), JSON.parse(before), 'the rewrite keeps the entry');
      await writeLines(all);
      const report = await verify();
      assert.equal(report.ok, false);
      assert.equal(report.problem?.seq, 5);
      assert.equal(report.problem?.code, 'hash_mismatch');
    });
  }

  test('bytes that decode to the same text (an invalid UTF-8 byte for U+FFFD) fail', async () => {
    const other = await tempDir('verify-bytes');
    try {
      const store = await AuditStore.open({ home: other.path, keys, contentMode: () => 'hash', log: () => undefined });
      await store.ingest([{ kind: 'chat.input', input: 'x', metadata: { note: 'a\uFFFDb' } }, { kind: 'chat.input', input: 'y' }]);
      await store.close();
      const file = join(other.path, (await listSegments(other.path))[0]?.file ?? '');
      const bytes = await readFile(file);
      const at = bytes.indexOf(Buffer.from('a\uFFFDb', 'utf8'));
      assert.ok(at > 0);
      const forged = Buffer.concat([bytes.subarray(0, at + 1), Buffer.from([0xff]), bytes.subarray(at + 4)]);
      assert.equal(forged.toString('utf8'), bytes.toString('utf8'), 'the same text once decoded');
      await writeFile(file, forged);
      const report = await verifyStore(other.path, { publicKeys: keys.signingPublicKeys });
      assert.equal(report.problem?.code, 'hash_mismatch');
      assert.equal(report.problem?.seq, 1);
    } finally {
      await other.dispose();
    }
  });

  test('an unsigned entry appended in a non-canonical form with its hash over those bytes fails', async () => {
    const all = await lines();
    const last = JSON.parse(all[9] ?? '') as Entry;
    const forged: Record<string, unknown> = { ...last, seq: 11, prev: last.hash, id: '01900000-0000-7000-8000-000000000011' };
    delete forged.hash;
    // Keys in canonical order, but a space after the first colon: the hash is computed over exactly these bytes.
    const body = entryLine(forged as unknown as Entry).trimEnd().replace('":', '": ');
    const hash = createHash('sha256').update(body).digest('hex');
    const at = body.indexOf(',"id"');
    const line = `${body.slice(0, at)},"hash":"${hash}"${body.slice(at)}`;
    await writeLines([...all, line]);
    const report = await verify();
    assert.equal(report.ok, false);
    assert.equal(report.problem?.seq, 11);
    assert.equal(report.problem?.code, 'hash_mismatch');
    // The same entry in canonical form is an unsigned tail, which verify reports but accepts.
    const canonical = JSON.parse(line) as Entry;
    canonical.hash = entryHash(canonical);
    await writeLines([...all, entryLine(canonical).trimEnd()]);
    const accepted = await verify();
    assert.equal(accepted.ok, true, JSON.stringify(accepted.problem));
    assert.equal(accepted.unsigned_tail, 1);
  });

  test('a byte flipped into invalid JSON', async () => {
    const all = await lines();
    all[2] = (all[2] ?? '').replace('{', '[');
    await writeLines(all);
    const report = await verify();
    assert.equal(report.problem?.code, 'unparseable');
    assert.equal(report.problem?.seq, 3);
  });

  test('a deleted line', async () => {
    const all = await lines();
    all.splice(6, 1);
    await writeLines(all);
    const report = await verify();
    assert.equal(report.ok, false);
    assert.equal(report.problem?.seq, 7);
    assert.equal(report.problem?.code, 'seq_gap');
  });

  test('two swapped lines', async () => {
    const all = await lines();
    const third = all[2] ?? '';
    all[2] = all[3] ?? '';
    all[3] = third;
    await writeLines(all);
    const report = await verify();
    assert.equal(report.ok, false);
    assert.equal(report.problem?.seq, 3);
  });

  test('a truncated tail (whole lines removed) is caught by the signed checkpoint', async () => {
    const all = await lines();
    await writeLines(all.slice(0, 8));
    const report = await verify();
    assert.equal(report.ok, false);
    assert.equal(report.problem?.code, 'checkpoint_beyond_end');
    assert.equal(report.problem?.seq, 9);
  });

  test('a tail cut mid-line', async () => {
    const size = (await readFile(segmentPath)).length;
    await truncate(segmentPath, size - 20);
    const report = await verify();
    assert.equal(report.ok, false);
    assert.equal(report.problem?.code, 'torn_tail');
  });

  test('an edited field with every later hash recomputed is caught by the signed checkpoint', async () => {
    const entries = (await lines()).map((l) => JSON.parse(l) as Entry);
    let prev = '0'.repeat(64);
    const rewritten = entries.map((entry) => {
      const edited: Entry = { ...entry, prev };
      if (edited.seq === 4) edited.metadata = { n: 400 };
      edited.hash = entryHash(edited);
      prev = edited.hash;
      return entryLine(edited).trimEnd();
    });
    await writeLines(rewritten);
    const report = await verify();
    assert.equal(report.ok, false);
    assert.equal(report.problem?.code, 'checkpoint_mismatch');
  });

  test('a forged checkpoint fails its signature', async () => {
    const path = join(home.path, CHECKPOINTS_FILE);
    const text = await readFile(path, 'utf8');
    await writeFile(path, text.replace(/"seq":10/, '"seq":11'));
    const report = await verify();
    assert.equal(report.ok, false);
    assert.equal(report.problem?.code, 'checkpoint_signature');
  });

  test('checkpoints signed by another key are rejected', async () => {
    const report = await verifyStore(home.path, { publicKeys: testKeys().signingPublicKeys });
    assert.equal(report.ok, false);
    assert.equal(report.problem?.code, 'checkpoint_signature');
  });

  test('a removed first segment without a retention anchor', async () => {
    const all = await lines();
    await writeLines(all.slice(3));
    await rm(join(home.path, CHECKPOINTS_FILE));
    const report = await verify();
    assert.equal(report.ok, false);
    assert.equal(report.problem?.code, 'missing_start');
    assert.equal(report.problem?.seq, 4);
  });

  test('a range can be verified on its own', async () => {
    const report = await verifyStore(home.path, { publicKeys: keys.signingPublicKeys, fromSeq: 3, toSeq: 6 });
    assert.equal(report.ok, true);
    assert.equal(report.entries_checked, 4);
    assert.equal(report.first_seq, 3);
    assert.equal(report.last_seq, 6);
  });
});

describe('signatures the daemon must have written', () => {
  let home: { path: string; dispose(): Promise<void> };
  let keys: KeyMaterial;
  beforeEach(async () => {
    home = await tempDir('verify-rules');
    keys = testKeys();
  });
  afterEach(() => home.dispose());

  const verify = () => verifyStore(home.path, { publicKeys: keys.signingPublicKeys });

  test('entries 50 s apart for ten minutes, with no timer firing: the daemon still signs every 60 s and verify passes; without those records it fails', async () => {
    let clock = Date.parse('2026-11-20T09:00:00Z');
    const store = await AuditStore.open({ home: home.path, keys, contentMode: () => 'hash', log: () => undefined, now: () => clock });
    for (let i = 0; i < 12; i++) {
      await store.ingest([{ kind: 'chat.input', input: `prompt ${i}` }]);
      clock += 50_000;
    }
    await store.close();
    const report = await verify();
    assert.equal(report.ok, true, JSON.stringify(report.problem));
    const records = (await readFile(join(home.path, CHECKPOINTS_FILE), 'utf8')).split('\n').filter((l) => l !== '');
    assert.ok(records.length >= 6, `only ${records.length} records`);
    await rm(join(home.path, CHECKPOINTS_FILE));
    const failed = await verify();
    assert.equal(failed.ok, false);
    assert.equal(failed.problem?.code, 'checkpoint_missing');
  });

  test('20,000 entries in two concurrent batches of 10,000: never more than 10,000 unsigned in a row', async () => {
    const store = await AuditStore.open({ home: home.path, keys, contentMode: () => 'none', log: () => undefined });
    const batch = () => Array.from({ length: 10_000 }, () => ({ kind: 'chat.input' as const }));
    await Promise.all([store.ingest(batch()), store.ingest(batch()), store.ingest([{ kind: 'chat.input' }])]);
    await store.close();
    const report = await verify();
    assert.equal(report.ok, true, JSON.stringify(report.problem));
    assert.equal(report.entries_checked, 20_001);
    await rm(join(home.path, CHECKPOINTS_FILE));
    assert.equal((await verify()).problem?.code, 'checkpoint_missing');
  });

  test('a record removed from the middle breaks the chain of records', async () => {
    let clock = Date.parse('2026-11-20T09:00:00Z');
    for (let session = 0; session < 3; session++) {
      const store = await AuditStore.open({ home: home.path, keys, contentMode: () => 'hash', log: () => undefined, now: () => clock });
      await store.ingest([{ kind: 'chat.input' }]);
      await store.close();
      clock += 1000;
    }
    const records = (await readFile(join(home.path, CHECKPOINTS_FILE), 'utf8')).split('\n').filter((l) => l !== '');
    assert.equal(records.length, 3);
    await writeFile(join(home.path, CHECKPOINTS_FILE), `${records[0]}\n${records[2]}\n`);
    const report = await verify();
    assert.equal(report.problem?.code, 'checkpoint_chain');
    assert.equal(report.problem?.segment, 'checkpoints.jsonl');
  });

  test('--expect: a checkpoint kept elsewhere must be in the store', async () => {
    const store = await AuditStore.open({ home: home.path, keys, contentMode: () => 'hash', log: () => undefined });
    await store.ingest([{ kind: 'chat.input' }, { kind: 'chat.input' }]);
    const { last_hash } = store.latestCheckpoint();
    await store.close();
    const ok = await verifyStore(home.path, { publicKeys: keys.signingPublicKeys, expect: { seq: 2, hash: last_hash } });
    assert.equal(ok.ok, true);
    const beyond = await verifyStore(home.path, { publicKeys: keys.signingPublicKeys, expect: { seq: 3, hash: last_hash } });
    assert.equal(beyond.problem?.code, 'expected_missing');
    const other = await verifyStore(home.path, { publicKeys: keys.signingPublicKeys, expect: { seq: 1, hash: last_hash } });
    assert.equal(other.problem?.code, 'expected_missing');
  });
});

describe('lines read by their bytes report what lines parsed in full report', () => {
  let home: { path: string; dispose(): Promise<void> };
  let keys: KeyMaterial;
  let files: string[];
  const DAY = 86_400_000;

  // Entries whose nested values hold members named like the top-level ones verify checks, strings with
  // escaped quotes, braces and unicode, and what the segment summary counts (scanner, risk, keys).
  const hostile = (i: number) => ({
    kind: 'chat.input' as const,
    input: `prompt ${i}`,
    idempotency_key: `key-${i}-é`,
    model: i % 2 === 0 ? 'gpt-4o' : 'modèle "☃"',
    operation: 'chat',
    risk_score: i / 7,
    decision: i % 3 === 0 ? ('blocked' as const) : ('allowed' as const),
    reason: `}{"hash":"${'0'.repeat(64)}","prev":"\\`,
    scanner: { name: 'lakera', flagged: i % 2 === 0, categories: { pii: true, 'a"b': i } },
    metadata: { n: i, hash: 'f'.repeat(64), prev: { seq: 1, recorded_at: 'x' }, seq: [i, '"seq":1'], note: '\u2028\ud83d\ude00\\' },
  });

  beforeEach(async () => {
    home = await tempDir('verify-bytes-vs-parse');
    keys = testKeys();
    let clock = Date.parse('2026-11-20T10:00:00.000Z');
    const store = await AuditStore.open({ home: home.path, keys, contentMode: () => 'hash', log: () => undefined, now: () => clock });
    // Three days: two closed segments with summaries, and the open one.
    for (let day = 0; day < 3; day++) {
      clock = Date.parse('2026-11-20T10:00:00.000Z') + day * DAY;
      for (let i = 1; i <= 6; i++) await store.ingest([hostile(day * 10 + i)]);
    }
    await store.close();
    files = (await listSegments(home.path)).map((s) => join(home.path, s.file));
    assert.equal(files.length, 3);
  });
  afterEach(() => home.dispose());

  const both = async (extra: { fromSeq?: number; toSeq?: number } = {}) => {
    const options = { publicKeys: keys.signingPublicKeys, summaryKeys: keys.hmacKeys, ...extra };
    // Both ways must agree, and neither may throw: an edited line is a problem to report, never a crash
    // (an entry without `ts` in a closed segment once threw a TypeError from the summary check).
    const outcome = (run: Promise<VerifyReport>) => run.then((report) => ({ report }), (error: unknown) => ({ error: String(error) }));
    const byBytes = await outcome(verifyStore(home.path, options));
    const parsed = await outcome(verifyStore(home.path, { ...options, parseEveryLine: true }));
    assert.deepEqual(byBytes, parsed);
    // …and so must the segments walked by worker threads, whose doubts end in the same walks.
    assert.deepEqual(await outcome(verifyStore(home.path, { ...options, workers: 2 })), parsed);
    assert.ok('report' in byBytes, JSON.stringify(byBytes));
    return byBytes.report;
  };
  const edit = async (file: number, line: number, change: (text: string) => string) => {
    const path = files[file] ?? '';
    const all = (await readFile(path, 'utf8')).split('\n');
    const before = all[line] ?? '';
    all[line] = change(before);
    assert.notEqual(all[line], before);
    await writeFile(path, all.join('\n'));
  };
  /** The line with its hash computed again over its own bytes, as a forger would. */
  const rehashed = (text: string): string => {
    const member = /,"hash":"[0-9a-f]{64}"/.exec(text)?.[0] ?? '';
    const body = text.replace(member, '');
    return text.replace(member, `,"hash":"${createHash('sha256').update(body).digest('hex')}"`);
  };

  test('the untouched store', async () => {
    const report = await both();
    assert.equal(report.ok, true);
    assert.equal(report.entries_checked, 18);
    assert.equal(report.segments_checked, 3);
    assert.equal((await both({ fromSeq: 4, toSeq: 9 })).entries_checked, 6);
  });

  const changes: Array<[string, number, number, (text: string) => string]> = [
    ['a nested value edited', 1, 2, (t) => t.replace('"n":13', '"n":14')],
    ['a nested value edited, the hash recomputed', 1, 2, (t) => rehashed(t.replace('"n":13', '"n":14'))],
    ['a nested "hash" member given the line\'s hash', 0, 1, (t) => t.replace(`"hash":"${'f'.repeat(64)}"`, `"hash":"${/"hash":"([0-9a-f]{64})"/.exec(t)?.[1] ?? ''}"`)],
    ['a nested "seq" moved to the top level', 0, 3, (t) => rehashed(t.replace('"seq":[4,"\\"seq\\":1"]', '"seq":[4]').replace(/"seq":(\d+),"ts"/, '"seq":$1,"seq":4,"ts"'))],
    ['a duplicate seq', 0, 3, (t) => t.replace(/"seq":(\d+),"ts"/, '"seq":$1,"seq":3,"ts"')],
    ['an escaped quote unescaped', 1, 0, (t) => rehashed(t.replace('\\"seq\\":1', '"seq":1'))],
    ['a key escaped', 2, 1, (t) => rehashed(t.replace('"kind"', '"\\u006bind"'))],
    ['white space', 2, 5, (t) => rehashed(t.replace('"decision":', '"decision": '))],
    ['members swapped', 2, 5, (t) => rehashed(t.replace(/("kind":"[^"]*"),("latency_ms|"metadata")/, '$2,$1'))],
    ['a line cut short', 0, 4, (t) => t.slice(0, -30)],
    ['a line cut short, the hash recomputed', 0, 4, (t) => rehashed(t.slice(0, t.lastIndexOf(',"ts"')) + '}')],
    ['the hash member removed', 1, 5, (t) => t.replace(/,"hash":"[0-9a-f]{64}"/, '')],
    ['prev replaced by a nested one', 1, 3, (t) => rehashed(t.replace(/"prev":"[0-9a-f]{64}",/, ''))],
    ['a seq written as 4.0', 0, 3, (t) => rehashed(t.replace(/"seq":4,/, '"seq":4.0,'))],
    ['a seq written as 4e0', 0, 3, (t) => rehashed(t.replace(/"seq":4,/, '"seq":4e0,'))],
    ['a seq written as 04', 0, 3, (t) => rehashed(t.replace(/"seq":4,/, '"seq":04,'))],
    ['a seq written as a string', 0, 3, (t) => rehashed(t.replace(/"seq":4,/, '"seq":"4",'))],
    ['a duplicate prev, the hash recomputed', 0, 3, (t) => rehashed(t.replace(/("prev":"[0-9a-f]{64}")/, '$1,$1'))],
    ['a second hash member', 0, 3, (t) => t.replace(/("hash":"[0-9a-f]{64}")/, '$1,$1')],
    ['a NUL in a string, the hash recomputed', 0, 3, (t) => rehashed(t.replace('"operation":"chat"', '"operation":"ch\u0000at"'))],
    ['recorded_at a day later (the unsigned run too long)', 2, 5, (t) => rehashed(t.replace(/"recorded_at":"2026-11-22/, '"recorded_at":"2026-11-23'))],
    ['invalid JSON inside the scanner object', 0, 1, (t) => t.replace('"flagged":true', '"flagged":tru')],
    ['an unknown escape in a string the summary counts', 1, 1, (t) => rehashed(t.replace('"operation":"chat"', '"operation":"ch\\at"'))],
    ['a summary counter of a nested category', 0, 2, (t) => rehashed(t.replace('"a\\"b":3', '"a\\"b":0'))],
    ['ts removed in a closed segment, the hash recomputed', 0, 2, (t) => rehashed(t.replace(/,"ts":"[^"]*"/, ''))],
    ['kind removed in a closed segment, the hash recomputed', 1, 2, (t) => rehashed(t.replace(/,"kind":"[^"]*"/, ''))],
    ['scanner categories null in a closed segment, the hash recomputed', 0, 2, (t) => rehashed(t.replace(/"categories":\{[^}]*\}/, '"categories":null'))],
  ];
  // The newest entries left unsigned: the last signed record dropped (only a witness catches that), so the
  // edited tail is proven by its canonical form instead of a signature.
  const unsignTail = async () => {
    const path = join(home.path, CHECKPOINTS_FILE);
    const records = (await readFile(path, 'utf8')).split('\n').filter((l) => l !== '');
    await writeFile(path, records.slice(0, -1).map((l) => `${l}\n`).join(''));
  };
  const last = (t: string) => t;
  // Edits of the open segment's last line with the newest signature dropped, the hash recomputed. Canonical
  // lines that are not entries once passed the walk by bytes (it read only seq, prev, hash, recorded_at there).
  const tailChanges: Array<[string, (text: string) => string]> = [
    ['ts removed', (t) => rehashed(t.replace(/,"ts":"[^"]*"/, ''))],
    ['kind removed', (t) => rehashed(t.replace(/,"kind":"[^"]*"/, ''))],
    ['kind a number', (t) => rehashed(t.replace(/"kind":"[^"]*"/, '"kind":5'))],
    ['decision removed', (t) => rehashed(t.replace(/"decision":"[^"]*",/, ''))],
    ['ts a number', (t) => rehashed(t.replace(/"ts":"[^"]*"/, '"ts":5'))],
    ['scanner categories null', (t) => rehashed(t.replace(/"categories":\{[^}]*\}/, '"categories":null'))],
    ['scanner an array', (t) => rehashed(t.replace(/"scanner":\{"categories":\{[^}]*\},[^}]*\}/, '"scanner":[1]'))],
    ['seq as a string', (t) => rehashed(t.replace(/"seq":(\d+),/, '"seq":"$1",'))],
    ['seq as 1e1-style', (t) => rehashed(t.replace(/"seq":(\d+),/, '"seq":$1e0,'))],
    ['seq with a leading zero', (t) => rehashed(t.replace(/"seq":(\d+),/, '"seq":0$1,'))],
    ['a raw NUL in a string', (t) => rehashed(t.replace('"operation":"chat"', '"operation":"ch\u0000at"'))],
    ['a BOM before the line', (t) => rehashed('\ufeff' + t)],
    ['a CR after the line', (t) => rehashed(t + '\r')],
    ['bytes after the closing brace', (t) => rehashed(t + '{}')],
    ['a very long nested string', (t) => rehashed(t.replace('"n":', `"long":"${'x\\"'.repeat(60_000)}","n":`))],
    ['unchanged', last],
  ];
  // Canonical entries still: without a signature, only a witness catches these (docs/entry.md §7.3).
  const undetectable = new Set(['unchanged', 'a very long nested string']);
  for (const [name, change] of tailChanges) {
    test(`the unsigned tail: ${name}`, async () => {
      await unsignTail();
      if (change !== last) await edit(2, 5, change);
      const report = await both();
      assert.equal(report.ok, undetectable.has(name), JSON.stringify(report));
      await both({ fromSeq: 17 });
      await both({ toSeq: 18 });
    });
  }
  // Bytes the text of a line cannot hold: invalid UTF-8 and encoded surrogate halves inside a string.
  const byteChanges: Array<[string, Buffer]> = [
    ['an invalid UTF-8 byte', Buffer.from([0xff])],
    ['an encoded surrogate half', Buffer.from([0xed, 0xa0, 0x80])],
    ['a truncated sequence', Buffer.from([0xe2, 0x98])],
  ];
  for (const [name, bytes] of byteChanges) {
    for (const unsigned of [false, true]) {
      test(`${name} in a string, the hash recomputed${unsigned ? ' (unsigned tail)' : ''}`, async () => {
        if (unsigned) await unsignTail();
        const file = unsigned ? 2 : 0;
        const path = files[file] ?? '';
        const all = (await readFile(path)).toString('latin1').split('\n');
        const line = unsigned ? 5 : 2;
        const text = all[line] ?? '';
        const at = text.indexOf('"operation":"chat"') + '"operation":"ch'.length;
        const edited = Buffer.concat([Buffer.from(text.slice(0, at), 'latin1'), bytes, Buffer.from(text.slice(at), 'latin1')]);
        const member = /,"hash":"[0-9a-f]{64}"/.exec(text)?.[0] ?? '';
        const body = Buffer.from(edited.toString('latin1').replace(member, ''), 'latin1');
        all[line] = edited.toString('latin1').replace(member, `,"hash":"${createHash('sha256').update(body).digest('hex')}"`);
        await writeFile(path, Buffer.from(all.join('\n'), 'latin1'));
        const report = await both();
        assert.equal(report.ok, false, JSON.stringify(report));
        await both({ fromSeq: 5 });
        await both({ toSeq: 3 });
      });
    }
  }
  for (const [name, file, line, change] of changes) {
    test(name, async () => {
      await edit(file, line, change);
      const report = await both();
      assert.equal(report.ok, false, JSON.stringify(report));
      await both({ fromSeq: 5 });
      await both({ toSeq: 3 });
    });
  }
});
