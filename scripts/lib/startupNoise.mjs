// `npm start` shows what a user can act on. code-server, dbus-daemon and gnome-keyring print warnings
// that are expected on a headless machine without internet and need nothing from the user; they are
// dropped here, line by line, and everything else passes through.
import { createInterface } from 'node:readline';

/** Each pattern names what it drops and why that needs no action. */
const NOISE = [
  // VS Code's signing module (vsda) is not part of code-server; nothing depends on it here.
  /vsda/i,
  // Extension gallery lookups (disabled in the settings; a stray one fails on a closed network).
  /open-vsx\.org|marketplace\.visualstudio\.com|extensionGallery|Error while getting the latest version for the extension/i,
  // dbus-daemon cannot raise its file descriptor limit when not root; a private session needs few.
  /dbus-daemon\[\d+\].*(fd limit|file descriptor|RLIMIT_NOFILE)/i,
  /Failed to (raise|set) (the )?fd limit|Unable to set up (a )?new connection/i,
  // gnome-keyring without CAP_IPC_LOCK: secrets may be swapped like any process memory.
  /gnome-keyring-daemon.*(insufficient process capabilities|insecure memory)/i,
  /discover_other_daemon/,
  // The file watcher (parcel) ends with its parent on Ctrl-C and says so.
  /\[File Watcher.*(crash|terminated|exit)|watcher.*(crashed|terminated unexpectedly)/i,
];

export function isStartupNoise(line) {
  return NOISE.some((pattern) => pattern.test(line));
}

/** Copies `input` to `output` line by line, without the lines of known noise. */
export function forwardWithoutNoise(input, output) {
  const lines = createInterface({ input, crlfDelay: Infinity });
  lines.on('line', (line) => {
    if (!isStartupNoise(line)) output.write(`${line}\n`);
  });
}
