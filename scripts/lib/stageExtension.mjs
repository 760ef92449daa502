// Lays out the extension as VS Code installs it (what the .vsix holds): the manifest, the bundles, the
// webview assets, and the one native runtime dependency (@napi-rs/keyring and its platform package),
// which the daemon bundle loads from node_modules. Used by `npm start` and the end-to-end tests.
import { cp, mkdir, readdir, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('../..', import.meta.url).pathname;

/** @param {string} target  the folder to (re)create; returns it */
export async function stageExtension(target) {
  if (!existsSync(join(root, 'dist/extension.cjs'))) throw new Error('dist/extension.cjs is missing: run `npm run build` first');
  await rm(target, { recursive: true, force: true });
  await mkdir(join(target, 'dist'), { recursive: true });
  for (const file of ['package.json', 'README.md']) await cp(join(root, file), join(target, file));
  for (const file of ['extension.cjs', 'cli.mjs']) await cp(join(root, 'dist', file), join(target, 'dist', file));
  await cp(join(root, 'dist/webview'), join(target, 'dist/webview'), { recursive: true });
  for (const name of await readdir(join(root, 'node_modules/@napi-rs'))) {
    if (name === 'keyring' || name.startsWith('keyring-')) {
      await cp(join(root, 'node_modules/@napi-rs', name), join(target, 'node_modules/@napi-rs', name), { recursive: true });
    }
  }
  return target;
}
