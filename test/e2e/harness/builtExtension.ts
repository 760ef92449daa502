// The extension under test is the .vsix that ships: the one `npm run package` builds for this machine's
// platform (scripts/test.mjs builds it before the end-to-end tests run).

import { existsSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { distDigests, hostTarget, vsixPath } from '../../../scripts/package.mjs';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** The .vsix of this platform; throws, saying how to build it, when it is missing or older than the build. */
export async function builtVsix(): Promise<string> {
  const target = hostTarget();
  if (target === undefined) throw new Error(`no .vsix is built for ${process.platform}-${process.arch}`);
  const manifest = JSON.parse(await readFile(`${ROOT}package.json`, 'utf8')) as { name: string; version: string };
  const vsix = vsixPath(target, manifest);
  const rebuild = `run \`npm run package -- --target ${target}\` (scripts/test.mjs does it before end-to-end tests)`;
  if (!existsSync(vsix)) throw new Error(`${vsix} is missing: ${rebuild}`);
  // By content: another test may rebuild dist/ (same sources, same bytes) while this one runs.
  const packed: unknown = existsSync(`${vsix}.sources.json`) ? JSON.parse(await readFile(`${vsix}.sources.json`, 'utf8')) : null;
  if (!isDeepStrictEqual(packed, await distDigests())) throw new Error(`${vsix} was not built from the current dist/: ${rebuild}`);
  return vsix;
}
