import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { cp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { openKeyStore } from '../../daemon/keys/openKeyStore.ts';
import type { VerifyReport } from '../../daemon/protocol/messages.ts';
import { DaemonState } from '../../daemon/state/daemonState.ts';
import { AuditStore } from '../../daemon/store/auditStore.ts';
import { verifyStore } from '../../daemon/store/chainVerifier.ts';
import { summaryFileOf } from '../../daemon/store/segmentPaths.ts';
import { runCliProcess } from '../support/daemonProcess.ts';
import { segmentFiles } from '../support/segmentFiles.ts';
import { suiteTempDirs } from '../support/suiteTempDirs.ts';

/*
 * A store edited by hand, each way docs/protocol.md ("verify") and docs/entry.md describe and some they do not,
 * is reported the same by the built CLI reading by bytes on worker threads (AI_AUDIT_VERIFY_WORKERS=2), by bytes on
 * its own thread (=0), and by the exact walk that parses every line (the reference: what verify always reported).
 * The edits land in a later worker's share, across the workers' 1 MiB reads (a line longer than a read), and in
 * the members the by-bytes walk reads by their names (escaped, reordered, repeated).
 */

const MASTER_KEY = randomBytes(32).toString('base64');
const ENV = { AI_AUDIT_MASTER_KEY: MASTER_KEY };
const dir = suiteTempDirs('verify-edits');

type Edit = (home: string, files: string[]) => Promise<void>;

/** Rewrites line `index` (0-based, from the end when negative) of segment `file` with `change`. */
function editLine(pick: (files: string[]) => string, index: number, change: (line: string) => string): Edit {
  return async (home, files) => {
    const path = join(home, pick(files));
    const lines = (await readFile(path, 'utf8')).split('\n');
    const at = index < 0 ? lines.length - 1 + index : index;
    const line = lines[at];
    assert.ok(line !== undefined && line !== '', `no line ${index} in ${path}`);
    const changed = change(line);
    assert.notEqual(changed, line, 'the edit changed nothing');
    lines[at] = changed;
    await writeFile(path, lines.join('\n'));
  };
}

const middle = (files: string[]): string => files[Math.floor(files.length * 0.7)] ?? '';
const newest = (files: string[]): string => files.at(-1) ?? '';

const EDITS: Array<[string, Edit]> = [
  ['a value edited', editLine(middle, 3, (l) => l.replace(/"decision":"(allowed|blocked)"/, (_m, d: string) => `"decision":"${d === 'allowed' ? 'blocked' : 'allowed'}"`))],
  ['a member name escaped (same JSON)', editLine(middle, 4, (l) => l.replace('"seq":', '"se\\u0071":'))],
  ['the hash member name escaped', editLine(middle, 4, (l) => l.replace('"hash":', '"h\\u0061sh":'))],
  ['a value escaped (same JSON)', editLine(middle, 4, (l) => l.replace(/"ts":"2/, '"ts":"\\u0032'))],
  ['the recorded_at of a line escaped', editLine(middle, 5, (l) => l.replace(/"recorded_at":"2/, '"recorded_at":"\\u0032'))],
  ['two members swapped', editLine(middle, 6, (l) => l.replace(/("decision":"[a-z]+"),("hash":"[0-9a-f]{64}")/, '$2,$1'))],
  ['white space after a colon', editLine(middle, 7, (l) => l.replace('"seq":', '"seq": '))],
  ['a member repeated', editLine(middle, 8, (l) => l.replace(/"seq":(\d+),/, '"seq":$1,"seq":$1,'))],
  ['the seq written 5.0', editLine(middle, 9, (l) => l.replace(/"seq":(\d+),/, '"seq":$1.0,'))],
  ['the seq written with a leading zero', editLine(middle, 9, (l) => l.replace(/"seq":(\d+),/, '"seq":0$1,'))],
  ['the hash in capitals', editLine(middle, 10, (l) => l.replace(/"hash":"([0-9a-f]{64})"/, (_m, h: string) => `"hash":"${h.toUpperCase()}"`))],
  ['the prev in capitals', editLine(middle, 11, (l) => l.replace(/"prev":"([0-9a-f]{64})"/, (_m, h: string) => `"prev":"${h.toUpperCase()}"`))],
  ['a non-ASCII member name', editLine(middle, 12, (l) => l.replace('"kind":', '"kïnd":'))],
  ['a CR before the newline', editLine(middle, 13, (l) => `${l}\r`)],
  ['a byte-order mark before a line', editLine(middle, 0, (l) => `\uFEFF${l}`)],
  ['a NUL inside a string', editLine(middle, 14, (l) => l.replace('"input_hmac":"', '"input_hmac":"\u0000'))],
  ['a line longer than a 1 MiB read', editLine(middle, 15, (l) => l.replace('"input_hmac":"', `"input_hmac":"${'a'.repeat(1_500_000)}`))],
  ['a line removed', async (home, files) => {
    const path = join(home, middle(files));
    const lines = (await readFile(path, 'utf8')).split('\n');
    lines.splice(5, 1);
    await writeFile(path, lines.join('\n'));
  }],
  ['a line repeated', async (home, files) => {
    const path = join(home, middle(files));
    const lines = (await readFile(path, 'utf8')).split('\n');
    lines.splice(5, 0, lines[5] ?? '');
    await writeFile(path, lines.join('\n'));
  }],
  ['two lines swapped', async (home, files) => {
    const path = join(home, middle(files));
    const lines = (await readFile(path, 'utf8')).split('\n');
    [lines[5], lines[6]] = [lines[6] ?? '', lines[5] ?? ''];
    await writeFile(path, lines.join('\n'));
  }],
  ['an empty line inserted', async (home, files) => {
    const path = join(home, middle(files));
    const lines = (await readFile(path, 'utf8')).split('\n');
    lines.splice(5, 0, '');
    await writeFile(path, lines.join('\n'));
  }],
  ['a closed segment without its last newline', async (home, files) => {
    const path = join(home, middle(files));
    const text = await readFile(path, 'utf8');
    await writeFile(path, text.slice(0, -1));
  }],
  ['the newest segment cut inside its last line', async (home, files) => {
    const path = join(home, newest(files));
    const text = await readFile(path, 'utf8');
    await writeFile(path, text.slice(0, -40));
  }],
  ['the newest segment\'s last line removed', editLine(newest, -1, () => '')],
  ['NULs appended to the newest segment', async (home, files) => {
    const path = join(home, newest(files));
    await writeFile(path, Buffer.concat([await readFile(path), Buffer.alloc(100)]));
  }],
  ['a middle segment deleted', async (home, files) => {
    await rm(join(home, middle(files)));
  }],
  ['a middle segment emptied', async (home, files) => {
    await writeFile(join(home, middle(files)), '');
  }],
  ['a closed segment\'s summary edited', async (home, files) => {
    const path = join(home, summaryFileOf(middle(files)));
    const text = await readFile(path, 'utf8');
    const edited = text.replace(/"blocked":(\d+)/, (_m, n: string) => `"blocked":${Number(n) + 1}`);
    assert.notEqual(edited, text);
    await writeFile(path, edited);
  }],
  ['a checkpoint record removed', async (home) => {
    const path = join(home, 'checkpoints.jsonl');
    const lines = (await readFile(path, 'utf8')).split('\n');
    assert.ok(lines.length > 4);
    lines.splice(2, 1);
    await writeFile(path, lines.join('\n'));
  }],
  ['a checkpoint record edited', async (home) => {
    const path = join(home, 'checkpoints.jsonl');
    const lines = (await readFile(path, 'utf8')).split('\n');
    lines[1] = (lines[1] ?? '').replace(/"seq":(\d+)/, (_m, n: string) => `"seq":${Number(n) + 1}`);
    await writeFile(path, lines.join('\n'));
  }],
];

describe('a store edited by hand is reported the same with and without worker threads, and as by the exact walk', () => {
  let pristine: string;
  let keys: Awaited<ReturnType<ReturnType<typeof openKeyStore>['load']>>;

  before(async () => {
    pristine = await dir('pristine');
    const state = await DaemonState.open(pristine);
    keys = await openKeyStore({ home: pristine, env: ENV, generation: state.keyGeneration }).load();
    // 20 s of recorded_at per batch: a signed record every few batches, as a daemon under load writes them.
    let clock = Date.now() - 86_400_000;
    const store = await AuditStore.open({ home: pristine, keys, contentMode: () => 'hash', log: () => undefined, now: () => clock, segmentMaxBytes: 32 * 1024 });
    for (let i = 0; i < 3_000; i += 100) {
      // Repeated values (the same ts and decision runs) and changing ones, as a real store has.
      const batch = Array.from({ length: 100 }, (_, j) => ({ kind: 'chat.input' as const, input: `prompt ${i + j}`, decision: (i + j) % 3 === 0 ? 'blocked' : 'allowed', metadata: { n: i + j } }));
      const acks = await store.ingest(batch);
      assert.ok(acks.every((a) => 'seq' in a));
      clock += 20_000;
    }
    await store.close();
  });

  const cliReport = async (home: string, workers: string): Promise<VerifyReport> => {
    const started = Date.now();
    const result = await runCliProcess(['verify', '--home', home, '--json'], { env: { ...ENV, AI_AUDIT_VERIFY_WORKERS: workers } });
    assert.ok(result.code === 0 || result.code === 1, `exit ${result.code} after ${Date.now() - started} ms: ${result.stderr} ${result.stdout.slice(0, 500)}`);
    return JSON.parse(result.stdout) as VerifyReport;
  };

  test('the pristine store passes every way', async () => {
    const exact = await verifyStore(pristine, { publicKeys: keys.signingPublicKeys, summaryKeys: keys.hmacKeys, parseEveryLine: true });
    assert.equal(exact.ok, true, JSON.stringify(exact.problem));
    assert.ok((await segmentFiles(pristine)).length >= 20);
    assert.deepEqual(await cliReport(pristine, '2'), exact);
    assert.deepEqual(await cliReport(pristine, '0'), exact);
  });

  for (const [name, edit] of EDITS) {
    test(name, async () => {
      const home = await dir('edited');
      await cp(pristine, home, { recursive: true });
      await edit(home, await segmentFiles(home));
      const exact = await verifyStore(home, { publicKeys: keys.signingPublicKeys, summaryKeys: keys.hmacKeys, parseEveryLine: true }).catch((error: unknown) => ({ thrown: String(error) }));
      if ('thrown' in exact) {
        // What the exact walk cannot report (a file gone), the CLI answers as an error, the same both ways.
        for (const workers of ['2', '0']) {
          const result = await runCliProcess(['verify', '--home', home, '--json'], { env: { ...ENV, AI_AUDIT_VERIFY_WORKERS: workers } });
          assert.ok(result.code !== 0, `${workers}: ${result.stdout}`);
        }
        return;
      }
      assert.equal(exact.ok, false, `${name}: the exact walk found nothing`);
      assert.deepEqual(await cliReport(home, '2'), exact, `${name}, on workers`);
      assert.deepEqual(await cliReport(home, '0'), exact, `${name}, on one thread`);
    });
  }
});
