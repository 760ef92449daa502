// `npm start`: runs the audit daemon in the foreground on its default data dir (or --home DIR),
// after doing whatever set-up a fresh machine lacks: npm packages, the build, and — on a Linux machine
// without a desktop session — a private D-Bus session with gnome-keyring as the OS keychain.
// Arguments go to `ai-audit daemon`: `npm start -- --port 7777 --home /tmp/audit`.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ensureDebianPackages } from './lib/debianPackages.mjs';
import { runInKeyringSession } from './lib/keyringSession.mjs';

const root = new URL('..', import.meta.url).pathname;
process.chdir(root);
const log = (line) => process.stderr.write(`[start] ${line}\n`);

if (!existsSync('node_modules/.package-lock.json')) {
  log('installing npm packages (npm ci)');
  execFileSync('npm', ['ci'], { stdio: 'inherit' });
}
if (!existsSync('dist/cli.mjs')) execFileSync('node', ['scripts/build.mjs'], { stdio: 'inherit' });

const argv = ['node', 'dist/cli.mjs', 'daemon', ...process.argv.slice(2)];
const needsPrivateKeyring =
  process.platform === 'linux' && !process.env.AI_AUDIT_MASTER_KEY && !process.env.DBUS_SESSION_BUS_ADDRESS;

let code;
if (needsPrivateKeyring) {
  ensureDebianPackages(
    [
      { command: 'dbus-run-session', pkg: 'dbus' },
      { command: 'gnome-keyring-daemon', pkg: 'gnome-keyring' },
    ],
    log,
  );
  log('no desktop session: starting a private gnome-keyring (Secret Service) for the daemon\'s keys.');
  // gnome-keyring needs a non-empty password to create a keyring without a GUI prompt. The default is
  // a known string, so the keyring file is then protected by its file permissions alone: say so.
  if (!process.env.AI_AUDIT_KEYRING_PASSWORD) {
    log('its keyring file is protected only by file permissions; set AI_AUDIT_KEYRING_PASSWORD to encrypt it,');
    log('or on a server give the daemon AI_AUDIT_MASTER_KEY from your secret manager instead.');
  }
  const keyringDir = join(process.env.XDG_DATA_HOME || join(homedir(), '.local', 'share'), 'ai-audit-trail-keyring');
  mkdirSync(keyringDir, { recursive: true, mode: 0o700 });
  code = await runInKeyringSession(argv, {
    env: process.env,
    password: process.env.AI_AUDIT_KEYRING_PASSWORD || 'ai-audit-trail',
    keyringDir,
  });
} else {
  const child = spawn(argv[0], argv.slice(1), { stdio: 'inherit' });
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
  code = await new Promise((resolve) => child.on('exit', (c) => resolve(c ?? 0)));
}
process.exit(code);
