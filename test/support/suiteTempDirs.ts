import { after } from 'node:test';
import { tempDir } from './tempDir.ts';

/**
 * For a `describe` body: a maker of fresh temporary folders (`ai-audit-<prefix>-<name>-…`), all removed
 * when the suite ends. Each test gets its own store, so one attack cannot leak into the next.
 */
export function suiteTempDirs(prefix: string): (name: string) => Promise<string> {
  const dirs: Array<{ dispose(): Promise<void> }> = [];
  after(async () => {
    for (const dir of dirs) await dir.dispose();
  });
  return async (name) => {
    const dir = await tempDir(`${prefix}-${name}`);
    dirs.push(dir);
    return dir.path;
  };
}
