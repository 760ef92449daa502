// `npm start`: opens AI Audit Trail in a real VS Code — desktop VS Code when `code` is installed, otherwise
// browser VS Code (code-server, installed into ~/.cache/ai-audit-trail on first use) at a printed
// 127.0.0.1 URL. The extension starts the audit daemon on its default data dir.
//   npm start -- [--port N] [FOLDER]      VS Code on FOLDER (default: the current folder), port 3737
//   npm start -- --daemon [daemon flags]  only the audit daemon, in the foreground
// Set-up a fresh machine lacks is done here: npm packages, the build, Debian packages, and — on Linux
// without a desktop session — a private D-Bus session with gnome-keyring as the OS keychain.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { ensureDebianPackages } from './lib/debianPackages.mjs';
import { runningDaemonNotice } from './lib/runningDaemon.mjs';
import { DEFAULT_KEYRING_PASSWORD, needsPrivateKeyring, privateKeyringDir, runInKeyringSession } from '../daemon/keys/privateKeyringSession.mjs';

const root = new URL('..', import.meta.url).pathname;
const callerDir = process.env.INIT_CWD || process.cwd();
process.chdir(root);
const log = (line) => process.stderr.write(`[start] ${line}\n`);

if (!existsSync('node_modules/.package-lock.json')) {
  log('installing npm packages (npm ci)');
  execFileSync('npm', ['ci'], { stdio: 'inherit' });
}
if (!existsSync('dist/cli.mjs') || !existsSync('dist/extension.cjs')) execFileSync('node', ['scripts/build.mjs'], { stdio: 'inherit' });

const args = process.argv.slice(2);
const daemonOnly = args[0] === '--daemon';
const hasFolder = args.some((arg, i) => !arg.startsWith('--') && args[i - 1] !== '--port');
const argv = daemonOnly
  ? ['node', 'dist/cli.mjs', 'daemon', ...args.slice(1)]
  : ['node', 'scripts/vscode/openInVsCode.mjs', ...args, ...(hasFolder ? [] : [callerDir])];
let code;
if (needsPrivateKeyring(process.env)) {
  ensureDebianPackages(
    [
      { command: 'dbus-run-session', pkg: 'dbus' },
      { command: 'gnome-keyring-daemon', pkg: 'gnome-keyring' },
    ],
    log,
  );
  log('no desktop session: starting a private gnome-keyring (Secret Service) for the audit keys.');
  // gnome-keyring needs a non-empty password to create a keyring without a GUI prompt. The default is
  // a known string, so the keyring file is then protected by its file permissions alone: say so.
  if (!process.env.AI_AUDIT_KEYRING_PASSWORD) {
    log('its keyring file is protected only by file permissions; set AI_AUDIT_KEYRING_PASSWORD to encrypt it,');
    log('or on a server give the daemon AI_AUDIT_MASTER_KEY from your secret manager instead.');
  }
  const keyringDir = privateKeyringDir(process.env);
  mkdirSync(keyringDir, { recursive: true, mode: 0o700 });
  code = await runInKeyringSession(argv, {
    env: process.env,
    password: process.env.AI_AUDIT_KEYRING_PASSWORD || DEFAULT_KEYRING_PASSWORD,
    keyringDir,
  });
  const samePassword = process.env.AI_AUDIT_KEYRING_PASSWORD ? ' (with the same AI_AUDIT_KEYRING_PASSWORD)' : '';
  log(`the CLI opens this keyring again from any shell${samePassword}, e.g. npx ai-audit verify`);
} else {
  const child = spawn(argv[0], argv.slice(1), { stdio: 'inherit' });
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
  code = await new Promise((resolve) => child.on('exit', (c) => resolve(c ?? 0)));
}
// The extension's daemon outlives VS Code (it is detached): say so, and how to stop it.
if (!daemonOnly) for (const line of await runningDaemonNotice({ cli: 'dist/cli.mjs', env: process.env })) log(line);
process.exit(code);
