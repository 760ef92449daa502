// Opens the extension in a real VS Code: desktop VS Code (`code`) when it is installed, otherwise
// browser VS Code (code-server, installed into the user's cache on first use) on 127.0.0.1, printing
// the URL, with the extension installed from the .vsix `npm run package` builds for this platform. The
// extension starts the audit daemon on its default data dir.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ensureCodeServer } from './ensureCodeServer.mjs';
import { hostTarget, packageTarget } from '../package.mjs';
import { forwardWithoutNoise } from '../lib/startupNoise.mjs';

const root = new URL('../..', import.meta.url).pathname;

function hasDesktopCode() {
  return spawnSync('sh', ['-c', 'command -v code'], { stdio: 'ignore' }).status === 0 && (process.env.DISPLAY || process.platform !== 'linux');
}

/**
 * @param {{ log: (line: string) => void, port: number, folder: string }} options
 * @returns {Promise<number>} exit code
 */
export async function openInVsCode({ log, port, folder }) {
  if (hasDesktopCode()) {
    log(`opening desktop VS Code with the extension in development mode on ${folder}`);
    const child = spawn('code', ['--new-window', `--extensionDevelopmentPath=${root}`, folder], { stdio: 'inherit' });
    return new Promise((resolve) => child.on('exit', (code) => resolve(code ?? 0)));
  }
  const install = await ensureCodeServer({ log });
  // No extension gallery: an empty one turns VS Code's marketplace lookups off (the default, open-vsx,
  // is unreachable from a closed network and only fills the log).
  const codeServerEnv = { ...process.env, EXTENSIONS_GALLERY: '{}' };
  const cache = join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'ai-audit-trail', 'run');
  const userDataDir = join(cache, 'user-data');
  const extensionsDir = join(cache, 'extensions');
  await mkdir(join(userDataDir, 'User'), { recursive: true });
  await mkdir(extensionsDir, { recursive: true });
  const settingsFile = join(userDataDir, 'User', 'settings.json');
  if (!existsSync(settingsFile)) {
    await writeFile(settingsFile, `${JSON.stringify({
      'telemetry.telemetryLevel': 'off', 'update.mode': 'none', 'extensions.autoUpdate': false,
      'extensions.autoCheckUpdates': false, 'workbench.startupEditor': 'none', 'security.workspace.trust.enabled': false,
    }, null, 2)}\n`);
  }
  const config = join(cache, 'config.yaml');
  await writeFile(config, `bind-addr: 127.0.0.1:${port}\nauth: none\ncert: false\n`);
  const target = hostTarget();
  if (target === undefined) throw new Error(`no .vsix is built for ${process.platform}-${process.arch}; use desktop VS Code`);
  const { path: vsix } = await packageTarget(target, { log: () => {} });
  // Installed as users install it; --force replaces the copy an earlier run installed.
  execFileSync(install.nodeBin, [install.codeServerEntry, '--config', config, '--user-data-dir', userDataDir, '--extensions-dir', extensionsDir,
    '--install-extension', vsix, '--force'], { stdio: 'ignore', env: codeServerEnv });
  const child = spawn(install.nodeBin, [
    install.codeServerEntry, '--config', config, '--bind-addr', `127.0.0.1:${port}`, '--auth', 'none',
    '--user-data-dir', userDataDir, '--extensions-dir', extensionsDir, '--disable-telemetry', '--disable-update-check',
    '--disable-workspace-trust', '--disable-getting-started-override', folder,
  // Its own process group: Ctrl-C in the terminal reaches this script only, which stops code-server with
  // SIGTERM, so that code-server ends its file watcher and extension host in order (a SIGINT to all of them
  // at once made the watcher report a crash).
  ], { stdio: ['ignore', 'pipe', 'pipe'], env: codeServerEnv, detached: true });
  const killGroup = (signal) => {
    try {
      process.kill(-child.pid, signal);
    } catch {
      // Already gone.
    }
  };
  process.on('exit', () => killGroup('SIGKILL'));
  let announced = false;
  const announce = () => {
    if (announced) return;
    announced = true;
    log(`VS Code (code-server) with AI Audit Trail: http://127.0.0.1:${port}/?folder=${encodeURIComponent(folder)}`);
    log('open it in a browser, then run "AI Audit Trail: Open Chat" from the command palette (F1). Ctrl-C stops.');
  };
  child.stdout.on('data', (chunk) => {
    if (/HTTP server listening/.test(chunk.toString())) announce();
  });
  forwardWithoutNoise(child.stderr, process.stderr);
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill('SIGTERM'));
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal === 'SIGTERM' ? 0 : 1))));
}

// Run directly: `node scripts/vscode/openInVsCode.mjs [--port N] [FOLDER]`.
if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const portAt = args.indexOf('--port');
  const port = portAt === -1 ? Number(process.env.PORT || 3737) : Number(args[portAt + 1]);
  const rest = args.filter((_, i) => i !== portAt && i !== portAt + 1);
  const log = (line) => process.stderr.write(`[start] ${line}\n`);
  const code = await openInVsCode({ log, port, folder: rest[0] ?? process.cwd() });
  process.exit(code);
}
