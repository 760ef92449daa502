// `npm run package`: one platform-specific .vsix per VS Code target, in dist/vsix/:
//   ai-audit-trail-<target>-<version>.vsix  for linux-x64, linux-arm64, darwin-x64, darwin-arm64, win32-x64
// Each holds the manifest, the README (and its image), the licence, the bundles (extension, daemon+CLI,
// webview) and the one native runtime dependency, @napi-rs/keyring with the prebuilt binary of its
// target — and nothing else (.vscodeignore). The binaries of other platforms come from the npm registry
// (`npm pack`, checked against package-lock.json's integrity) into a cache outside the repository.
//   npm run package -- --target linux-x64 [--target …]   only these targets
// See docs/packaging.md for what is in a .vsix and why.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { withoutNpmVariables } from './vscode/ensureCodeServer.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));

/** VS Code target → the @napi-rs/keyring platform package that carries its binary. */
export const TARGETS = {
  'linux-x64': 'linux-x64-gnu',
  'linux-arm64': 'linux-arm64-gnu',
  'darwin-x64': 'darwin-x64',
  'darwin-arm64': 'darwin-arm64',
  'win32-x64': 'win32-x64-msvc',
};

/** The VS Code target of this machine, or undefined when no .vsix is built for it. */
export function hostTarget() {
  const target = `${process.platform}-${process.arch}`;
  return Object.hasOwn(TARGETS, target) ? target : undefined;
}

/** Where `npm run package` writes the .vsix of `target` (into `outDir`, default dist/vsix). */
export function vsixPath(target, manifest, outDir = join(root, 'dist', 'vsix')) {
  return join(outDir, `${manifest.name}-${target}-${manifest.version}.vsix`);
}

async function readJson(path) {
  return JSON.parse(await readFile(path, 'utf8'));
}

/** The files of the repository that a .vsix carries, besides node_modules/@napi-rs and the CLI's chunks. */
const SHIPPED = [
  'README.md',
  'LICENSE',
  // The README's images, shown on the extension's page in VS Code.
  'docs/chat.png',
  'docs/audit-log-dark.png',
  'docs/audit-log-light.png',
  'docs/audit-log-charts-dark.png',
  'docs/audit-log-charts-light.png',
  'dist/extension.cjs',
  'dist/cli.mjs',
  'dist/cli-main.cjs',
  'dist/webview/chat.js',
  'dist/webview/chat.css',
  'dist/webview/auditLog.js',
  'dist/webview/auditLog.css',
  'dist/webview/codicon.css',
  'dist/webview/codicon.ttf',
  '.vscodeignore',
];

/** The chunks of the CLI bundle (SDK groups and the two workers, CommonJS named by content hash; see scripts/build.mjs). */
export async function cliChunks() {
  return (await readdir(join(root, 'dist/cli-chunks'))).filter((f) => f.endsWith('.cjs')).sort().map((f) => `dist/cli-chunks/${f}`);
}

/** Every file of the repository that a .vsix carries, besides node_modules/@napi-rs. */
async function shippedFiles() {
  if (!existsSync(join(root, 'dist/cli-chunks'))) throw new Error('dist/cli-chunks is missing: run npm run build');
  return [...SHIPPED, ...(await cliChunks())];
}

/**
 * The keyring's platform package for `target` as a tarball in the user's cache: from the npm registry,
 * at the version and integrity package-lock.json pins (it lists every platform's optional package).
 */
async function keyringTarball(platform, log) {
  const name = `@napi-rs/keyring-${platform}`;
  const locked = (await readJson(join(root, 'package-lock.json'))).packages?.[`node_modules/${name}`];
  if (!locked?.version || !locked.integrity) throw new Error(`package-lock.json does not pin ${name}: run npm install`);
  const cacheHome = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  const cache = join(cacheHome, 'ai-audit-trail', 'prebuilds');
  const tarball = join(cache, `napi-rs-keyring-${platform}-${locked.version}.tgz`);
  if (!existsSync(tarball)) {
    log(`fetching ${name}@${locked.version} (npm pack)`);
    await mkdir(cache, { recursive: true });
    // Into a folder of its own, then renamed into place: a concurrent run never reads half a file.
    const scratch = await mkdtemp(join(cache, '.pack-'));
    try {
      execFileSync('npm', ['pack', `${name}@${locked.version}`, '--pack-destination', scratch, '--prefer-offline', '--silent'], {
        cwd: scratch,
        env: withoutNpmVariables(process.env),
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      await rename(join(scratch, `napi-rs-keyring-${platform}-${locked.version}.tgz`), tarball);
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  }
  const [algorithm, expected] = locked.integrity.split(/-(.*)/s);
  const actual = createHash(algorithm).update(await readFile(tarball)).digest('base64');
  if (actual !== expected) {
    await rm(tarball, { force: true });
    throw new Error(`${tarball} does not match package-lock.json's integrity for ${name}@${locked.version}; removed it, run again`);
  }
  return tarball;
}

/**
 * The manifest as shipped: no build scripts, dev tools or npm `files` list (vsce takes .vscodeignore),
 * and only the dependency the .vsix carries.
 */
function shippedManifest(manifest) {
  const shipped = { ...manifest, dependencies: { '@napi-rs/keyring': manifest.dependencies['@napi-rs/keyring'] } };
  for (const key of ['scripts', 'devDependencies', 'files']) delete shipped[key];
  return shipped;
}

/** SHA-256 of each shipped file of dist/, by path. */
export async function distDigests() {
  const digests = {};
  for (const file of (await shippedFiles()).filter((f) => f.startsWith('dist/'))) {
    digests[file] = createHash('sha256').update(await readFile(join(root, file))).digest('hex');
  }
  return digests;
}

/**
 * Builds the .vsix of one target from the current build (dist/) and returns its path and size.
 * @param {string} target  a key of TARGETS
 * @param {{ log?: (line: string) => void, outDir?: string }} [options]  `outDir`: default dist/vsix
 */
export async function packageTarget(target, { log = (line) => process.stderr.write(`[package] ${line}\n`), outDir = join(root, 'dist', 'vsix') } = {}) {
  const platform = TARGETS[target];
  if (platform === undefined) throw new Error(`unknown target ${target}; one of ${Object.keys(TARGETS).join(', ')}`);
  const manifest = await readJson(join(root, 'package.json'));
  const stage = join(outDir, `stage-${target}`);
  await rm(stage, { recursive: true, force: true });
  for (const file of await shippedFiles()) {
    if (!existsSync(join(root, file))) throw new Error(`${file} is missing${file.startsWith('dist/') ? ': run npm run build' : ''}`);
    await cp(join(root, file), join(stage, file));
  }
  await writeFile(join(stage, 'package.json'), `${JSON.stringify(shippedManifest(manifest), null, 2)}\n`);
  // The loader package (JavaScript) from node_modules, the binary of the target from the registry.
  await cp(join(root, 'node_modules/@napi-rs/keyring'), join(stage, 'node_modules/@napi-rs/keyring'), { recursive: true });
  const binaryDir = join(stage, 'node_modules/@napi-rs', `keyring-${platform}`);
  await mkdir(binaryDir, { recursive: true });
  execFileSync('tar', ['-xzf', await keyringTarball(platform, log), '-C', binaryDir, '--strip-components=1']);

  const out = vsixPath(target, manifest, outDir);
  await rm(out, { force: true });
  // Dependencies are detected by `npm list` in the stage (the keyring and its one platform package).
  // The README's relative image link is kept as it is: it resolves inside the installed extension.
  execFileSync(
    process.execPath,
    [join(root, 'node_modules/@vscode/vsce/vsce'), 'package', '--target', target, '--out', out, '--no-rewrite-relative-links', '--allow-missing-repository', '--no-yarn'],
    { cwd: stage, env: withoutNpmVariables(process.env), stdio: ['ignore', 'ignore', 'inherit'] },
  );
  await rm(stage, { recursive: true, force: true });
  // What the .vsix was built from, so that a test can tell it is current by content, not by file times
  // (a later build of the same sources rewrites dist/ with the same bytes).
  await writeFile(`${out}.sources.json`, `${JSON.stringify(await distDigests())}\n`);
  const { size } = await stat(out);
  log(`${target}: ${out} (${(size / 1024 / 1024).toFixed(2)} MiB)`);
  return { target, path: out, size };
}

const invokedDirectly = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly) {
  const targets = process.argv.flatMap((arg, i) => (process.argv[i - 1] === '--target' ? [arg] : []));
  try {
    execFileSync(process.execPath, [join(root, 'scripts/build.mjs')], { stdio: 'inherit' });
    for (const target of targets.length > 0 ? targets : Object.keys(TARGETS)) await packageTarget(target);
  } catch (error) {
    process.stderr.write(`[package] ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  }
}
