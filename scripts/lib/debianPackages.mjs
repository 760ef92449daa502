// Makes sure the Debian packages behind some commands are installed: as root it installs the missing
// ones with apt-get; otherwise it stops with the exact command to run.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

function hasCommand(command) {
  if (command.startsWith('/')) return existsSync(command);
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

/**
 * @param {Array<{ command: string, pkg: string }>} needs  a command and the Debian package that provides it
 * @param {(line: string) => void} log
 */
export function ensureDebianPackages(needs, log) {
  const missing = [...new Set(needs.filter((n) => !hasCommand(n.command)).map((n) => n.pkg))];
  if (missing.length === 0) return;
  const command = `apt-get update && apt-get install -y --no-install-recommends ${missing.join(' ')}`;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!isRoot || !hasCommand('apt-get')) {
    throw new Error(`missing Debian packages: ${missing.join(', ')}. Install them with:\n  sudo ${command}`);
  }
  log(`installing Debian packages: ${missing.join(', ')} (once)`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update'], { stdio: ['ignore', 'ignore', 'inherit'], env });
  execFileSync('apt-get', ['install', '-y', '--no-install-recommends', ...missing], { stdio: ['ignore', 'ignore', 'inherit'], env });
}
