import { chmod, mkdir, stat } from 'node:fs/promises';

/** Creates the data dir with mode 0700 (and tightens an existing one): it holds the token. */
export async function ensureDataDir(path: string): Promise<void> {
  await mkdir(path, { recursive: true, mode: 0o700 });
  if (process.platform !== 'win32') {
    const mode = (await stat(path)).mode & 0o777;
    if (mode !== 0o700) await chmod(path, 0o700);
  }
}
