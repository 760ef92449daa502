import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  DEFAULT_KEYRING_PASSWORD,
  canRunPrivateKeyring,
  needsPrivateKeyring,
  privateKeyringDir,
  runInKeyringSession,
} from '../keys/privateKeyringSession.mjs';
import { runCli } from './cliMain.ts';

/** The commands that open the OS keychain themselves (the others go through the running daemon). */
const KEYCHAIN_COMMANDS = new Set(['daemon', 'verify', 'repair', 'verify-export', 'query', 'credentials']);

// On a Linux machine without a desktop session, `npm start` keeps the audit keys in a private gnome-keyring
// that lives only as long as its D-Bus session. Run from any other shell, a command that needs the keys
// opens that same keyring again in a session of its own.
async function main(): Promise<void> {
  const keyringDir = privateKeyringDir(process.env);
  if (
    KEYCHAIN_COMMANDS.has(process.argv[2] ?? '') &&
    needsPrivateKeyring(process.env) &&
    existsSync(join(keyringDir, 'keyrings')) &&
    canRunPrivateKeyring()
  ) {
    const password = process.env.AI_AUDIT_KEYRING_PASSWORD || DEFAULT_KEYRING_PASSWORD;
    process.exit(await runInKeyringSession([process.execPath, ...process.argv.slice(1)], { env: process.env, password, keyringDir }));
  }

  // The `ai-audit` executable: the one place that turns a result into a process exit.
  const stopSignal = Promise.race([once(process, 'SIGINT'), once(process, 'SIGTERM')]).then(([signal]) => String(signal ?? 'signal'));
  const code = await runCli(process.argv.slice(2), {
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    stopSignal,
  });
  // Exit explicitly: an idle stdin pipe or the signal listeners must not keep a finished command alive.
  process.stdout.write('', () => process.exit(code));
}

// A CommonJS bundle (dist/cli-main.cjs, run by dist/cli.mjs with V8's code cache): no top-level await. A
// failure ends the process as an unhandled rejection, as it did at the top level.
void main();
