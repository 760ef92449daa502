import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';

const BUNDLE = new URL('../../dist/extension.cjs', import.meta.url);

// The extension host (Node 22+) reports every read of the `navigator` global by an extension as
// "PendingMigrationError: navigator is now a global". zod reads it to detect Cloudflare Workers; the
// build replaces it, so the shipped bundle must not name it at all.
test('the extension bundle never reads the navigator global (no PendingMigrationError at activation)', async () => {
  const code = await readFile(BUNDLE, 'utf8');
  const uses = [...code.matchAll(/\bnavigator\b/g)].map((m) => code.slice(Math.max(0, m.index - 60), m.index + 40));
  assert.deepEqual(uses, []);
});
