// Makes sure that everything the end-to-end harness needs to run a real VS Code is installed:
// Debian's Chromium (driven by playwright-core) and code-server (VS Code in the browser) with the
// Node version it requires. Why code-server and not @vscode/test-electron: see
// /work/shared/recipes/vscode-e2e.md — the only downloads that work here are npm and Debian packages.
//
// code-server and its Node live in a per-user cache outside the repository, keyed by version, because
// the install takes about two minutes and 800 MB; every later call returns at once.
//
// Run directly (`node scripts/vscode/ensureCodeServer.mjs`) to install and print the paths as JSON.

import { spawn } from 'node:child_process';
import { access, mkdir, readdir, readFile, readlink, rename, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

/** code-server 4.139.1 ships VS Code 1.139.1; keep `engines.vscode` of extensions under test at or below it. */
export const CODE_SERVER_VERSION = '4.139.1';
/** code-server 4.139.x declares `engines.node: 24`; its native modules are built for this Node. */
export const NODE_MAJOR = 24;
/** Debian's Chromium: the browser playwright-core drives (`npx playwright install` cannot download here). */
export const CHROMIUM_PATH = '/usr/bin/chromium';

/**
 * Debian packages the harness needs, each with a file that proves it is installed.
 * `libkrb5-dev` is a build dependency of code-server's `kerberos` module (its prebuilt download fails
 * offline), so it is only required while code-server still has to be installed.
 */
const DEBIAN_PACKAGES = [
  { name: 'chromium', probe: CHROMIUM_PATH, neededForBuildOnly: false },
  { name: 'libkrb5-dev', probe: '/usr/include/krb5.h', neededForBuildOnly: true },
];

/** A lock folder still without owner file after this long was left by a caller that died at once (ms). */
const LOCK_WITHOUT_OWNER_STALE_MS = 30_000;
/** How long a second caller waits for a concurrent install to finish (ms). */
const LOCK_WAIT_MS = 15 * 60_000;

/**
 * @typedef {object} CodeServerInstall
 * @property {string} nodeBin Node 24 binary to run code-server with.
 * @property {string} codeServerEntry code-server's JavaScript entry point; run it as `nodeBin codeServerEntry …`.
 * @property {string} chromiumPath The Chromium binary for playwright-core.
 */

/**
 * Installs (once, idempotently, safe against concurrent callers) Chromium, Node 24 and code-server.
 * When Debian packages are missing and the process is not root, throws an Error naming the packages
 * and the command that installs them.
 *
 * @param {{ log?: (line: string) => void }} [options] `log` receives progress lines; default: stderr.
 * @returns {Promise<CodeServerInstall>}
 */
export async function ensureCodeServer({ log = defaultLog } = {}) {
  const dirs = installDirs();
  if ((await isInstalled(dirs)) && (await missingDebianPackages({ includeBuildOnly: false })).length === 0) {
    return result(dirs);
  }

  // Under the lock, so that concurrent callers neither run npm twice nor race for apt's own lock.
  await mkdir(dirs.parent, { recursive: true });
  const releaseLock = await acquireLock(dirs, log);
  try {
    // Another caller may have finished the install while this one waited for the lock.
    const installed = await isInstalled(dirs);
    await ensureDebianPackages({ includeBuildOnly: !installed, log });
    if (!installed) await installCodeServer(dirs, log);
    return result(dirs);
  } finally {
    await releaseLock();
  }
}

function defaultLog(line) {
  process.stderr.write(`[ensureCodeServer] ${line}\n`);
}

function installDirs() {
  const cacheHome = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  const parent = join(cacheHome, 'ai-audit-trail', 'vscode');
  const root = join(parent, `code-server-${CODE_SERVER_VERSION}`);
  // Node and code-server get separate npm projects: the `node` package installs its platform binary
  // from a postinstall script, outside npm's lockfile, so a later `npm install` in the same folder
  // "retires" it — in the middle of building code-server's native modules against its headers.
  const nodeModules = join(root, 'node', 'node_modules');
  const serverModules = join(root, 'server', 'node_modules');
  return {
    parent,
    root,
    nodeProject: join(root, 'node'),
    serverProject: join(root, 'server'),
    lock: `${root}.lock`,
    // Written last: its presence means the install completed; anything else is redone from scratch.
    stamp: join(root, '.installed.json'),
    nodeBinDir: join(nodeModules, 'node', 'bin'),
    nodeBin: join(nodeModules, 'node', 'bin', 'node'),
    // The `node` npm package keeps the real distribution (with headers) in a platform package.
    nodeDir: join(nodeModules, 'node', 'node_modules', `node-${process.platform}-${process.arch}`),
    codeServerEntry: join(serverModules, 'code-server', 'out', 'node', 'entry.js'),
  };
}

function result(dirs) {
  return { nodeBin: dirs.nodeBin, codeServerEntry: dirs.codeServerEntry, chromiumPath: CHROMIUM_PATH };
}

async function exists(path) {
  try {
    await access(path);
    return true;
  } catch (error) {
    if (isErrnoCode(error, 'ENOENT')) return false;
    throw error;
  }
}

function isErrnoCode(error, code) {
  return error instanceof Error && 'code' in error && error.code === code;
}

async function isInstalled(dirs) {
  return (await exists(dirs.stamp)) && (await exists(dirs.nodeBin)) && (await exists(dirs.codeServerEntry));
}

async function missingDebianPackages({ includeBuildOnly }) {
  const missing = [];
  for (const pkg of DEBIAN_PACKAGES) {
    if (pkg.neededForBuildOnly && !includeBuildOnly) continue;
    if (!(await exists(pkg.probe))) missing.push(pkg.name);
  }
  return missing;
}

async function ensureDebianPackages({ includeBuildOnly, log }) {
  const missing = await missingDebianPackages({ includeBuildOnly });
  if (missing.length === 0) return;

  const command = `apt-get update && apt-get install -y ${missing.join(' ')}`;
  if (process.getuid?.() !== 0) {
    throw new Error(
      `The VS Code end-to-end harness needs the Debian package(s) ${missing.join(', ')}, which are not installed. ` +
        `Install them as root: sudo sh -c '${command}'`,
    );
  }
  log(`installing Debian packages: ${missing.join(' ')} (about 30 s)`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  await run('apt-get', ['update'], { env, log });
  await run('apt-get', ['install', '-y', ...missing], { env, log });
  for (const pkg of DEBIAN_PACKAGES) {
    if (missing.includes(pkg.name) && !(await exists(pkg.probe))) {
      throw new Error(`apt-get installed ${pkg.name}, but ${pkg.probe} is still missing.`);
    }
  }
}

async function installCodeServer(dirs, log) {
  const started = Date.now();
  log(`installing node@${NODE_MAJOR} and code-server@${CODE_SERVER_VERSION} into ${dirs.root} (about 2 minutes)`);
  await discardStaleInstall(dirs, log);
  for (const project of [dirs.nodeProject, dirs.serverProject]) {
    await mkdir(project, { recursive: true });
    // Our own package.json keeps npm from walking up to some enclosing project.
    await writeFile(
      join(project, 'package.json'),
      `${JSON.stringify({ name: 'ai-audit-trail-e2e-tools', private: true, description: 'Cache of the e2e harness; safe to delete.' }, null, 2)}\n`,
    );
  }
  const npmFlags = ['--no-audit', '--no-fund'];
  // Run from `npm test`/`npm start`, we inherit the outer npm's `npm_config_*` and `npm_*` variables. The
  // inner installs must not see them: code-server's postinstall reads the Node version from
  // `npm_config_user_agent` (the outer Node 20), not from the Node that runs it, and refuses.
  const cleanEnv = withoutNpmVariables(process.env);

  await run('npm', ['install', `node@${NODE_MAJOR}`, ...npmFlags], { cwd: dirs.nodeProject, env: cleanEnv, log });
  if (!(await exists(dirs.nodeBin)) || !(await exists(join(dirs.nodeDir, 'include', 'node', 'node.h')))) {
    throw new Error(`npm installed node@${NODE_MAJOR}, but ${dirs.nodeBin} or its headers in ${dirs.nodeDir} are missing.`);
  }

  // The machine's ~/.npmrc sets nodedir=/usr (Node 20's headers): without this override node-gyp
  // builds code-server's native modules for the wrong Node. Node 24 first on PATH runs npm and the
  // install scripts with the Node that will run code-server.
  const env = {
    ...cleanEnv,
    PATH: `${dirs.nodeBinDir}:${process.env.PATH ?? ''}`,
    npm_config_nodedir: dirs.nodeDir,
  };
  await run('npm', ['install', `code-server@${CODE_SERVER_VERSION}`, '--foreground-scripts', ...npmFlags], {
    cwd: dirs.serverProject,
    env,
    log,
  });
  if (!(await exists(dirs.codeServerEntry))) {
    throw new Error(`npm installed code-server@${CODE_SERVER_VERSION}, but ${dirs.codeServerEntry} is missing.`);
  }
  const version = await probeCodeServerVersion(dirs);

  const nodeVersion = (await runCapture(dirs.nodeBin, ['--version'])).trim();
  await writeFile(
    dirs.stamp,
    `${JSON.stringify({ codeServer: version, node: nodeVersion, installedAt: new Date().toISOString() }, null, 2)}\n`,
  );
  log(`installed code-server ${version} with Node ${nodeVersion} in ${Math.round((Date.now() - started) / 1000)} s`);
}

/**
 * A folder without the stamp is a leftover of an interrupted install: start clean. It is renamed
 * before it is deleted because an npm orphaned by a killed caller may still be writing into it;
 * after the rename it writes into the discarded copy, not into the fresh install.
 */
async function discardStaleInstall(dirs, log) {
  const stalePrefix = `${basename(dirs.root)}.stale-`;
  try {
    await rename(dirs.root, join(dirs.parent, `${stalePrefix}${process.pid}-${Date.now()}`));
  } catch (error) {
    if (!isErrnoCode(error, 'ENOENT')) throw error;
  }
  for (const entry of await readdir(dirs.parent)) {
    if (!entry.startsWith(stalePrefix)) continue;
    await rm(join(dirs.parent, entry), { recursive: true, force: true, maxRetries: 3 }).catch((error) => {
      log(`could not remove ${entry} yet (${error.code ?? error}); the next install retries`);
    });
  }
}

async function probeCodeServerVersion(dirs) {
  const manifest = JSON.parse(await readFile(join(dirs.serverProject, 'node_modules', 'code-server', 'package.json'), 'utf8'));
  if (manifest.version !== CODE_SERVER_VERSION) {
    throw new Error(`Expected code-server ${CODE_SERVER_VERSION}, npm installed ${String(manifest.version)}.`);
  }
  return manifest.version;
}

/**
 * mkdir is atomic: whoever creates the directory holds the lock. The owner's pid inside lets a
 * waiter break a lock whose owner died (for example a test run killed mid-install).
 */
async function acquireLock(dirs, log) {
  const deadline = Date.now() + LOCK_WAIT_MS;
  let reported = false;
  for (;;) {
    try {
      await mkdir(dirs.lock);
      await writeFile(join(dirs.lock, 'owner.json'), JSON.stringify({ pid: process.pid, since: Date.now() }));
      return () => rm(dirs.lock, { recursive: true, force: true });
    } catch (error) {
      if (!isErrnoCode(error, 'EEXIST')) throw error;
    }
    if (await isLockAbandoned(dirs.lock)) {
      log(`removing an abandoned install lock ${dirs.lock}`);
      await killLeftoverInstallers(dirs.root, log);
      await rm(dirs.lock, { recursive: true, force: true });
      continue;
    }
    if (Date.now() > deadline) {
      throw new Error(`Timed out waiting for another code-server install to finish (lock ${dirs.lock}).`);
    }
    if (!reported) {
      log(`another process is installing code-server; waiting (lock ${dirs.lock})`);
      reported = true;
    }
    await sleep(500);
  }
}

async function isLockAbandoned(lockDir) {
  let owner;
  try {
    owner = JSON.parse(await readFile(join(lockDir, 'owner.json'), 'utf8'));
  } catch (error) {
    if (!(isErrnoCode(error, 'ENOENT') || error instanceof SyntaxError)) throw error;
    // The owner may be between mkdir and writing owner.json; it died there if that lasts.
    try {
      return Date.now() - (await stat(lockDir)).mtimeMs > LOCK_WITHOUT_OWNER_STALE_MS;
    } catch (statError) {
      if (isErrnoCode(statError, 'ENOENT')) return false; // Released meanwhile: try again.
      throw statError;
    }
  }
  // Deliberately no age limit while the owner lives: a slow install must not be killed. (Should
  // its pid have been reused, the waiter times out with the lock's path in the message.)
  try {
    process.kill(owner.pid, 0);
    return false;
  } catch (error) {
    return isErrnoCode(error, 'ESRCH');
  }
}

/**
 * When an installer is killed, its npm and build processes live on as orphans and keep writing —
 * by absolute path — into the install folder, wrecking the next install. They are found by their
 * working directory inside that folder (Linux /proc) and killed before the lock is taken over.
 */
async function killLeftoverInstallers(root, log) {
  for (let round = 0; round < 50; round++) {
    const leftovers = await processesWorkingIn(root);
    if (leftovers.length === 0) return;
    log(`killing ${leftovers.length} leftover process(es) of an interrupted install: ${leftovers.join(' ')}`);
    for (const pid of leftovers) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch (error) {
        if (!isErrnoCode(error, 'ESRCH')) throw error;
      }
    }
    await sleep(200);
  }
  throw new Error(`Processes of an interrupted install keep running in ${root}; stop them and retry.`);
}

async function processesWorkingIn(root) {
  let entries;
  try {
    entries = await readdir('/proc');
  } catch (error) {
    if (isErrnoCode(error, 'ENOENT')) return []; // Not Linux: nothing to find this way.
    throw error;
  }
  const pids = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cwd = await readlink(`/proc/${entry}/cwd`);
      if (cwd === root || cwd.startsWith(`${root}/`)) pids.push(Number(entry));
    } catch (error) {
      // Gone meanwhile, or another user's process we may not inspect: not one of ours.
      if (!(isErrnoCode(error, 'ENOENT') || isErrnoCode(error, 'ESRCH') || isErrnoCode(error, 'EACCES'))) throw error;
    }
  }
  return pids;
}

/** Runs a command, forwarding its output line by line to `log`; rejects with the output's tail on failure. */
/** The environment without what an enclosing npm run exports (`npm_config_*`, `npm_lifecycle_*`, …). */
export function withoutNpmVariables(env) {
  return Object.fromEntries(Object.entries(env).filter(([name]) => !/^npm_/i.test(name)));
}

function run(command, args, { cwd, env, log }) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { cwd, env: env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const tail = [];
    const forward = (chunk) => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() === '') continue;
        log(`  ${line}`);
        tail.push(line);
        if (tail.length > 30) tail.shift();
      }
    };
    child.stdout.on('data', forward);
    child.stderr.on('data', forward);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) resolvePromise();
      else {
        reject(
          new Error(`\`${command} ${args.join(' ')}\` failed (${signal ?? `exit code ${code}`}). Last output:\n${tail.join('\n')}`),
        );
      }
    });
  });
}

function runCapture(command, args) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolvePromise(out) : reject(new Error(`${command} exited with ${code}`))));
  });
}

const invokedDirectly = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly) {
  try {
    const paths = await ensureCodeServer();
    process.stdout.write(`${JSON.stringify(paths, null, 2)}\n`);
  } catch (error) {
    process.stderr.write(`[ensureCodeServer] ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  }
}
