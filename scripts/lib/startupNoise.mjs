// `npm start` shows what a user can act on. code-server prints warnings that are expected on a machine
// without internet and need nothing from the user; they are dropped here, line by line, and everything
// else passes through. (The private keyring session filters its own daemons' warnings:
// daemon/keys/privateKeyringSession.mjs.)
import { createInterface } from 'node:readline';

/** Each pattern names what it drops and why that needs no action. */
const NOISE = [
  // VS Code's signing module (vsda) is not part of code-server; nothing depends on it here.
  /^File not found: .*[\\/]vsda[\\/]/,
  // Extension gallery lookups (the gallery is off; a stray one fails on a closed network).
  /open-vsx\.org|Error while getting the latest version for the extension/i,
  // code-server's own update check (off by flag; it still reports a failed lookup of its releases).
  /Failed to get latest version/,
  // The file watcher stopped with code-server (Ctrl-C) reports it as a crash and asks for a restart.
  /\[File Watcher \(.*\)\].*(crashed|restarting watcher)|File Watcher.*crashed with exit code/,
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
