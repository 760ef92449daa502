// The start-up noise filter drops exactly the known, non-actionable lines of code-server (as printed by
// code-server 4.139.1) and passes everything else, errors of the extension included.

import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { forwardWithoutNoise, isStartupNoise } from '../../../scripts/lib/startupNoise.mjs';

const NOISE = [
  'File not found: /root/.cache/ai-audit-trail/vscode/code-server-4.139.1/server/node_modules/code-server/lib/vscode/node_modules/vsda/rust/web/vsda_bg.wasm',
  'File not found: /root/.cache/ai-audit-trail/vscode/code-server-4.139.1/server/node_modules/code-server/lib/vscode/node_modules/vsda/rust/web/vsda.js',
  '[2026-12-01T22:52:51.805Z] error Failed to get latest version {"error":"getaddrinfo ENOTFOUND api.github.com"}',
  'Error while getting the latest version for the extension ms-python.python from https://open-vsx.org/vscode/gallery',
  '[File Watcher (parcel)] restarting watcher after unexpected error: Error: ENOENT',
];
const KEPT = [
  '[start] VS Code (code-server) with AI Audit Trail: http://127.0.0.1:3737/?folder=%2Fwork',
  'Error: listen EADDRINUSE: address already in use 127.0.0.1:3737',
  'File not found: /work/project/notes.md',
  '[ai-audit] daemon exited with code 2: Could not open the OS keychain',
];

test('known code-server noise is dropped, everything else is kept', () => {
  for (const line of NOISE) assert.equal(isStartupNoise(line), true, line);
  for (const line of KEPT) assert.equal(isStartupNoise(line), false, line);
});

test('forwardWithoutNoise passes the other lines through in order', async () => {
  const input = new PassThrough();
  const output = new PassThrough();
  let text = '';
  output.on('data', (chunk: Buffer) => (text += chunk.toString()));
  forwardWithoutNoise(input, output);
  input.end([NOISE[0], KEPT[0], NOISE[2], KEPT[1]].join('\n'));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(text, `${KEPT[0]}\n${KEPT[1]}\n`);
});
