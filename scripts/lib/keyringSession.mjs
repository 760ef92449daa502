// Runs a command inside a private D-Bus session with an unlocked gnome-keyring (the Secret Service),
// for machines without a desktop session: test runs, and the daemon on a headless server.
import { spawn } from 'node:child_process';

/**
 * @param {string[]} argv  the command to run inside the session
 * @param {{ env: NodeJS.ProcessEnv, password: string, keyringDir: string }} options  gnome-keyring keeps its
 *   keyring files in `keyringDir/keyrings` (its own folder, so a user's login keyring is never touched)
 * @returns {Promise<number>} the command's exit code
 */
export function runInKeyringSession(argv, { env, password, keyringDir }) {
  // gnome-keyring-daemon --unlock reads the keyring password from stdin; it prints the variables that
  // point clients at it, which the shell exports before exec'ing the command.
  const script =
    'f=$(mktemp) && printf %s "$AI_AUDIT_KEYRING_PASSWORD" | XDG_DATA_HOME="$AI_AUDIT_KEYRING_DIR" gnome-keyring-daemon --unlock --components=secrets > "$f" && ' +
    'set -a && . "$f" && set +a && rm -f "$f" && unset AI_AUDIT_KEYRING_PASSWORD AI_AUDIT_KEYRING_DIR && exec "$@"';
  const child = spawn('dbus-run-session', ['--', 'sh', '-c', script, 'sh', ...argv], {
    stdio: 'inherit',
    env: { ...env, AI_AUDIT_KEYRING_PASSWORD: password, AI_AUDIT_KEYRING_DIR: keyringDir },
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
