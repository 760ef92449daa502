// A private Secret Service for Linux machines without a desktop session: a D-Bus session with an unlocked
// gnome-keyring in a folder of its own (never the user's login keyring). `npm start`, `npm test` and the
// `ai-audit` CLI share it: what `npm start` created, the CLI opens again from any shell.
// Plain JavaScript (types in the .d.mts beside it): the scripts run it on Node 20 without a build, and
// esbuild bundles it into the CLI.
import { spawn, spawnSync } from 'node:child_process';
import { homedir } from 'node:os';
import { join } from 'node:path';

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
 * Runs a command inside a private D-Bus session with an unlocked gnome-keyring.
 * @param {string[]} argv  the command to run inside the session
 * @param {{ env: NodeJS.ProcessEnv, password: string, keyringDir: string, stdio?: 'inherit' | 'pipe' }} options
 *   gnome-keyring keeps its keyring files in `keyringDir/keyrings`; `stdio: 'pipe'` gives the caller the
 *   child's stdout and stderr (through `onChild`) instead of passing them through
 * @param {(child: import('node:child_process').ChildProcess) => void} [onChild]
 * @returns {Promise<number>} the command's exit code
 */
export function runInKeyringSession(argv, { env, password, keyringDir, stdio = 'inherit' }, onChild) {
  // gnome-keyring-daemon --unlock reads the keyring password from stdin; it prints the variables that
  // point clients at it, which the shell exports before exec'ing the command.
  const script =
    'f=$(mktemp) && printf %s "$AI_AUDIT_KEYRING_PASSWORD" | XDG_DATA_HOME="$AI_AUDIT_KEYRING_DIR" gnome-keyring-daemon --unlock --components=secrets > "$f" && ' +
    'set -a && . "$f" && set +a && rm -f "$f" && unset AI_AUDIT_KEYRING_PASSWORD AI_AUDIT_KEYRING_DIR && exec "$@"';
  const child = spawn('dbus-run-session', ['--', 'sh', '-c', script, 'sh', ...argv], {
    stdio: stdio === 'pipe' ? ['inherit', 'pipe', 'pipe'] : 'inherit',
    env: { ...env, AI_AUDIT_KEYRING_PASSWORD: password, AI_AUDIT_KEYRING_DIR: keyringDir },
  });
  onChild?.(child);
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
