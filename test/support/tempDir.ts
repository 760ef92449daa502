import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A fresh temporary folder and its removal, for `before`/`after` hooks. */
export async function tempDir(prefix: string): Promise<{ path: string; dispose(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), `ai-audit-${prefix}-`));
  return { path, dispose: () => rm(path, { recursive: true, force: true }) };
}
