// A private Secret Service for Linux machines without a desktop session: a D-Bus session with an unlocked
// gnome-keyring in a folder of its own (never the user's login keyring). `npm start`, `npm test` and the
// `ai-audit` CLI share it: what `npm start` created, the CLI opens again from any shell.
// Plain JavaScript (types in the .d.mts beside it): the scripts run it on Node 20 without a build, and
// esbuild bundles it into the CLI.
import { spawn, spawnSync } from 'node:child_process';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

/**
 * gnome-keyring needs a non-empty password to create a keyring without a GUI prompt. Without
 * AI_AUDIT_KEYRING_PASSWORD this known string is used, and the keyring file is protected by its file
 * permissions alone (the scripts say so).
 */
export const DEFAULT_KEYRING_PASSWORD = 'ai-audit-trail';

/** The folder of the private keyring (`$XDG_DATA_HOME/ai-audit-trail-keyring`); the files are in `keyrings/`. */
export function privateKeyringDir(env) {
  return join(env.XDG_DATA_HOME || join(env.HOME || homedir(), '.local', 'share'), 'ai-audit-trail-keyring');
}

/** True on Linux without a session bus and without AI_AUDIT_MASTER_KEY: the OS keychain is not reachable. */
export function needsPrivateKeyring(env, platform = process.platform) {
  return platform === 'linux' && !env.AI_AUDIT_MASTER_KEY && !env.DBUS_SESSION_BUS_ADDRESS;
}

/** True when dbus-run-session and gnome-keyring-daemon are installed. */
export function canRunPrivateKeyring() {
  return spawnSync('sh', ['-c', 'command -v dbus-run-session && command -v gnome-keyring-daemon'], { stdio: 'ignore' }).status === 0;
}

/**
 * What the session's own daemons print that needs no action: dbus-daemon cannot raise its file-descriptor
 * limit when not root (a private session needs few), and logs each service it starts on demand
 * (Chromium's accessibility bus in the tests); gnome-keyring without CAP_IPC_LOCK warns that secrets may be
 * swapped like any process memory.
 */
const SESSION_NOISE = [
  /^dbus-daemon\[\d+\]: .*(fd limit|Activating service name=|Successfully activated service)/,
  /^gnome-keyring-daemon.*(insufficient process capabilities|insecure memory)/,
  /discover_other_daemon/,
];

/**
 * Runs a command inside a private D-Bus session with an unlocked gnome-keyring. The command's stdin,
 * stdout and stderr are this process's own; what the session's daemons print goes through a filter that
 * drops their routine warnings (SESSION_NOISE).
 * @param {string[]} argv  the command to run inside the session
 * @param {{ env: NodeJS.ProcessEnv, password: string, keyringDir: string }} options  gnome-keyring keeps its
 *   keyring files in `keyringDir/keyrings` (its own folder, so a user's login keyring is never touched)
 * @returns {Promise<number>} the command's exit code
 */
export function runInKeyringSession(argv, { env, password, keyringDir }) {
  // gnome-keyring-daemon --unlock reads the keyring password from stdin; it prints the variables that
  // point clients at it, which the shell exports before exec'ing the command. The command gets the real
  // stderr back from fd 3; the session's stderr (dbus-daemon, gnome-keyring, this script) is filtered.
  const script =
    'f=$(mktemp) && printf %s "$AI_AUDIT_KEYRING_PASSWORD" | XDG_DATA_HOME="$AI_AUDIT_KEYRING_DIR" gnome-keyring-daemon --unlock --components=secrets > "$f" && ' +
    'set -a && . "$f" && set +a && rm -f "$f" && unset AI_AUDIT_KEYRING_PASSWORD AI_AUDIT_KEYRING_DIR && exec "$@" 2>&3 3>&-';
  const child = spawn('dbus-run-session', ['--', 'sh', '-c', script, 'sh', ...argv], {
    stdio: ['inherit', 'inherit', 'pipe', 2],
    env: { ...env, AI_AUDIT_KEYRING_PASSWORD: password, AI_AUDIT_KEYRING_DIR: keyringDir },
  });
  createInterface({ input: child.stderr, crlfDelay: Infinity }).on('line', (line) => {
    if (!SESSION_NOISE.some((pattern) => pattern.test(line))) process.stderr.write(`${line}\n`);
  });
  const forward = (signal) => child.kill(signal);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  return new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      resolve(code ?? (signal === 'SIGINT' || signal === 'SIGTERM' ? 0 : 1));
    });
  });
}
