import { copyFile, mkdir, readdir, symlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { CLI } from './daemonProcess.ts';

/**
 * A copy of the built CLI under `root` (dist/ with its chunks, node_modules linked beside it), as an install an
 * attacker or an upgrade can write into. Chunks whose names `without` matches are left out; returns the copy's
 * cli.mjs and how many chunks were left out.
 */
export async function copiedInstall(root: string, without?: RegExp): Promise<{ cli: string; left_out: number }> {
  const built = dirname(CLI);
  const dist = join(root, 'dist');
  await mkdir(join(dist, 'cli-chunks'), { recursive: true });
  await symlink(join(built, '..', 'node_modules'), join(root, 'node_modules'));
  await copyFile(CLI, join(dist, 'cli.mjs'));
  await copyFile(join(built, 'cli-main.cjs'), join(dist, 'cli-main.cjs'));
  let leftOut = 0;
  for (const name of await readdir(join(built, 'cli-chunks'))) {
    if (without?.test(name) === true) leftOut++;
    else await copyFile(join(built, 'cli-chunks', name), join(dist, 'cli-chunks', name));
  }
  return { cli: join(dist, 'cli.mjs'), left_out: leftOut };
}
