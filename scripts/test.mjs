// `npm test`: everything a fresh machine needs, then every test.
//   1. npm packages (npm ci when node_modules is missing), Debian packages (dbus, gnome-keyring; chromium
//      and the code-server cache for the end-to-end tests) when missing;
//   2. type-check (tsc -b), lint (eslint), build (esbuild);
//   3. node:test over test/**/*.test.ts inside a private D-Bus session with an unlocked gnome-keyring, so
//      that the keychain tests use a real Secret Service and never the user's own keyring.
// Arguments narrow the run to test files or folders: `npm test -- test/daemon/store`.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { ensureDebianPackages } from './lib/debianPackages.mjs';
import { runInKeyringSession } from '../daemon/keys/privateKeyringSession.mjs';

const root = new URL('..', import.meta.url).pathname;
process.chdir(root);
const log = (line) => process.stderr.write(`[test] ${line}\n`);
const run = (cmd, args) => execFileSync(cmd, args, { stdio: 'inherit' });

if (!existsSync('node_modules/.package-lock.json')) {
  log('installing npm packages (npm ci)');
  run('npm', ['ci']);
}
ensureDebianPackages(
  [
    { command: 'dbus-run-session', pkg: 'dbus' },
    { command: 'gnome-keyring-daemon', pkg: 'gnome-keyring' },
  ],
  log,
);

function findTests(path) {
  if (statSync(path).isFile()) return path.endsWith('.test.ts') ? [path] : [];
  return readdirSync(path, { withFileTypes: true })
    .filter((d) => d.name !== 'fixtures' && d.name !== 'node_modules')
    .flatMap((d) => findTests(join(path, d.name)));
}
const targets = process.argv.slice(2);
const files = (targets.length > 0 ? targets : ['test']).flatMap((t) => findTests(t)).map((f) => relative(root, f)).sort();
if (files.length === 0) {
  log(`no test files under ${targets.join(' ') || 'test/'}`);
  process.exit(1);
}

if (targets.length === 0) {
  log('type-check (tsc -b)');
  run('npx', ['tsc', '-b']);
  log('lint (eslint)');
  run('npx', ['eslint', '.']);
}
log('build (esbuild)');
run('node', ['scripts/build.mjs']);

if (files.some((f) => f.startsWith('test/e2e/')) && existsSync('scripts/vscode/ensureCodeServer.mjs')) {
  const { ensureCodeServer } = await import('./vscode/ensureCodeServer.mjs');
  await ensureCodeServer({ log });
  // The end-to-end tests install the .vsix that ships, so that what is tested is what ships.
  const { hostTarget, packageTarget } = await import('./package.mjs');
  const target = hostTarget();
  if (target !== undefined) {
    log(`package (${target} .vsix)`);
    await packageTarget(target, { log });
  }
}

// The cold-cache install (minutes of npm and native builds into an empty cache) runs on its own first: run
// beside the other files it was once cut off without a report, and alone it has the machine to itself.
const ISOLATED = ['test/scripts/vscode/ensureCodeServer.test.ts'];
const isolated = files.filter((f) => ISOLATED.includes(f));
const shared = files.filter((f) => !ISOLATED.includes(f));
let isolatedCode = 0;
if (isolated.length > 0) {
  log(`running ${isolated.join(' ')} on its own`);
  try {
    run('node', ['--test', '--import', 'tsx', '--test-reporter=spec', ...isolated]);
  } catch {
    isolatedCode = 1;
  }
}

// A private keyring per run: the keychain tests must not touch (or depend on) the user's keyring.
let code = 0;
if (shared.length > 0) {
  const keyringHome = mkdtempSync(join(tmpdir(), 'ai-audit-test-keyring-'));
  log(`running ${shared.length} test files`);
  code = await runInKeyringSession(
    ['node', '--test', '--import', 'tsx', '--test-reporter=spec', '--test-concurrency=2', ...shared],
    { env: { ...process.env, AI_AUDIT_TEST_KEYCHAIN: '1' }, password: 'test', keyringDir: keyringHome },
  );
  rmSync(keyringHome, { recursive: true, force: true });
}
if (isolatedCode !== 0) log(`${isolated.join(' ')} failed (its report is above the main run's)`);
process.exit(code !== 0 ? code : isolatedCode);
