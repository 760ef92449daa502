import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import type { Entry } from '../../../daemon/protocol/entry.ts';
import { canonicalJson } from '../../../daemon/store/canonicalJson.ts';
import { entryHash, entryLine } from '../../../daemon/store/entryHash.ts';
import { sealEntry } from '../../support/sealEntry.ts';

const unsealed = (): Omit<Entry, 'hash'> =>
  ({
    v: 1,
    seq: 7,
    id: '01a233ec-398a-7bd6-a641-935210982ba9',
    ts: '2026-11-20T10:00:00.000Z',
    recorded_at: '2026-11-20T10:00:00.000Z',
    kind: 'chat.input',
    decision: 'allowed',
    actor: { user_id: 'u1', session_id: 's1' },
    content: { mode: 'hash', input_length: 3 },
    metadata: { b: [1, { y: null, x: 'é"' }], a: true },
    prev: '0'.repeat(64),
  }) as Omit<Entry, 'hash'>;

test('entryHash and entryLine agree with the reference seal (canonical JSON without hash, hashed; the whole entry stored)', () => {
  const reference = unsealed();
  const expected = createHash('sha256').update(canonicalJson(reference)).digest('hex');
  const { entry, line } = sealEntry(unsealed());
  assert.equal(entry.hash, expected);
  assert.equal(entryHash(entry), expected);
  assert.equal(line, entryLine(entry));
  assert.equal(line, canonicalJson({ ...reference, hash: expected }) + '\n');
});

test('entryHash ignores the hash member and any undefined member, and changes with any edit', () => {
  const { entry } = sealEntry(unsealed());
  assert.equal(entryHash({ ...entry, hash: 'f'.repeat(64), reason: undefined } as Entry), entry.hash);
  assert.notEqual(entryHash({ ...entry, seq: 8 }), entry.hash);
});
