// Starts a real VS Code server (code-server) on loopback, isolated from the user's own VS Code and
// from other test runs, with the given extensions installed. Recipe and its traps:
// /work/shared/recipes/vscode-e2e.md.

import { spawn, type ChildProcess } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ensureCodeServer, type CodeServerInstall } from '../../../scripts/vscode/ensureCodeServer.mjs';
import { CleanupStack, type AsyncDisposable } from './cleanupStack.ts';

export interface StartCodeServerOptions {
  /** Unpacked extension folders (each with a package.json), installed by copying them (test fixtures). */
  readonly extensionDirs: readonly string[];
  /** Packaged extensions, installed as users install them: `code-server --install-extension X.vsix`. */
  readonly vsixFiles?: readonly string[];
  /** Absolute path of an existing folder to open as the workspace. */
  readonly workspaceFolder: string;
  /** Extra environment for code-server and so for the extension host. */
  readonly env?: Readonly<Record<string, string>>;
  /** User settings merged over the harness defaults (telemetry, updates, trust, start page off). */
  readonly settings?: Readonly<Record<string, unknown>>;
  /** How long to wait for `/healthz` to answer 200, in ms. Default 60 000. */
  readonly startTimeoutMs?: number;
  /** Keep the temporary folders after dispose (for debugging). Default: `AI_AUDIT_E2E_KEEP=1`. */
  readonly keepTempDirs?: boolean;
}

export interface CodeServer extends AsyncDisposable {
  /** The workbench with the workspace folder open: `http://127.0.0.1:PORT/?folder=…`. */
  readonly url: string;
  readonly port: number;
  /** VS Code's user data folder (settings in `User/`, logs in `logs/`). */
  readonly userDataDir: string;
  readonly extensionsDir: string;
  /** VS Code's log folder; the extension host writes to `<session>/exthost*` inside it. */
  readonly logsDir: string;
  /** The last lines code-server printed (stdout and stderr interleaved). */
  output(): string;
  /** Stops code-server with its whole process group and removes its temporary folders. Idempotent. */
  dispose(): Promise<void>;
}

/** VS Code would otherwise show a welcome page, ask for trust, check for updates and phone home. */
const DEFAULT_SETTINGS: Readonly<Record<string, unknown>> = {
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'extensions.autoUpdate': false,
  'extensions.autoCheckUpdates': false,
  'extensions.ignoreRecommendations': true,
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'workbench.enableExperiments': false,
  'security.workspace.trust.enabled': false,
};

const DEFAULT_START_TIMEOUT_MS = 60_000;
/** Another process may take the free port between our probe and code-server's bind. */
const PORT_ATTEMPTS = 3;
/** code-server cleans up on SIGTERM within a second or two; after this it gets SIGKILL (ms). */
const STOP_GRACE_MS = 5_000;
const OUTPUT_LINES_KEPT = 300;
/** Unix socket paths are limited to 108 bytes; VS Code's `vscode-ipc-<uuid>.sock` takes 52. */
const MAX_RUNTIME_DIR_LENGTH = 50;

interface ExtensionManifest {
  readonly publisher: string;
  readonly name: string;
  readonly version: string;
}

/**
 * Starts code-server (installing it first when needed, see scripts/vscode/ensureCodeServer.mjs) and
 * resolves once it answers `/healthz`. The returned server must be disposed.
 */
export async function startCodeServer(options: StartCodeServerOptions): Promise<CodeServer> {
  await validateOptions(options);
  const install = await ensureCodeServer();

  const cleanup = new CleanupStack();
  try {
    const root = await mkdtemp(join(tmpdir(), 'ai-audit-cs-'));
    if (!(options.keepTempDirs ?? process.env.AI_AUDIT_E2E_KEEP === '1')) {
      cleanup.defer(() => rm(root, { recursive: true, force: true, maxRetries: 3 }));
    }
    const sandbox = await createSandbox(root, options);
    for (const vsix of options.vsixFiles ?? []) await installVsix(install, sandbox, vsix);
    const timeoutMs = options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
    for (let attempt = 1; ; attempt++) {
      const port = await findFreePort();
      // An explicit config file: without one code-server writes ~/.config/code-server/config.yaml
      // with a generated password.
      await writeFile(sandbox.configFile, `bind-addr: 127.0.0.1:${port}\nauth: none\ncert: false\n`);
      const child = spawn(
        install.nodeBin,
        [
          install.codeServerEntry,
          '--config', sandbox.configFile,
          '--bind-addr', `127.0.0.1:${port}`,
          '--auth', 'none',
          '--user-data-dir', sandbox.userDataDir,
          '--extensions-dir', sandbox.extensionsDir,
          '--disable-telemetry',
          '--disable-update-check',
          '--disable-workspace-trust',
          '--disable-getting-started-override',
          '--ignore-last-opened',
          options.workspaceFolder,
        ],
        // Its own process group, so that dispose() can also stop the extension host and pty host.
        { cwd: sandbox.home, env: sandbox.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      const stopChild = stopProcessGroupOnce(child);
      cleanup.defer(stopChild);
      const output = new OutputTail(OUTPUT_LINES_KEPT);
      child.on('error', (error) => output.append(Buffer.from(`\n[harness] spawn failed: ${error.message}\n`)));
      child.stdout?.on('data', (chunk: Buffer) => output.append(chunk));
      child.stderr?.on('data', (chunk: Buffer) => output.append(chunk));

      const outcome = await waitUntilHealthy(port, child, timeoutMs);
      if (outcome === 'healthy') {
        const url = new URL(`http://127.0.0.1:${port}/`);
        url.searchParams.set('folder', options.workspaceFolder);
        return {
          url: url.href,
          port,
          userDataDir: sandbox.userDataDir,
          extensionsDir: sandbox.extensionsDir,
          logsDir: join(sandbox.userDataDir, 'logs'),
          output: () => output.text(),
          dispose: () => cleanup.dispose(),
        };
      }
      await stopChild();
      if (outcome === 'exited' && output.text().includes('EADDRINUSE') && attempt < PORT_ATTEMPTS) continue;
      const reason =
        outcome === 'exited'
          ? `code-server exited (${describeExit(child)})`
          : `code-server did not answer /healthz within ${timeoutMs} ms`;
      throw new Error(`${reason}. Last output:\n${output.text()}`);
    }
  } catch (error: unknown) {
    await cleanup.dispose();
    throw error;
  }
}

interface Sandbox {
  readonly home: string;
  readonly configFile: string;
  readonly userDataDir: string;
  readonly extensionsDir: string;
  readonly env: Readonly<Record<string, string>>;
}

/**
 * Lays out a private HOME, XDG folders, TMPDIR, user settings and extensions under `root`, so that
 * code-server neither reads nor writes anything of the user's (or of another test run).
 */
async function createSandbox(root: string, options: StartCodeServerOptions): Promise<Sandbox> {
  const home = join(root, 'home');
  const xdg = {
    XDG_CONFIG_HOME: join(root, 'xdg', 'config'),
    XDG_DATA_HOME: join(root, 'xdg', 'data'),
    XDG_CACHE_HOME: join(root, 'xdg', 'cache'),
    XDG_STATE_HOME: join(root, 'xdg', 'state'),
  };
  const tmp = join(root, 'tmp');
  const runtime = join(root, 'run');
  const userDataDir = join(root, 'user-data');
  const extensionsDir = join(root, 'extensions');
  for (const dir of [home, ...Object.values(xdg), tmp, extensionsDir, join(userDataDir, 'User')]) {
    await mkdir(dir, { recursive: true });
  }
  // XDG_RUNTIME_DIR must be private to its user (XDG Base Directory spec).
  await mkdir(runtime, { mode: 0o700 });
  await writeFile(
    join(userDataDir, 'User', 'settings.json'),
    `${JSON.stringify({ ...DEFAULT_SETTINGS, ...options.settings }, null, 2)}\n`,
  );
  for (const extensionDir of options.extensionDirs) {
    await copyExtension(extensionDir, extensionsDir);
  }

  // EXTENSIONS_GALLERY: an empty gallery turns VS Code's marketplace lookups off (closed network).
  const env: Record<string, string> = { ...inheritedEnv(), HOME: home, ...xdg, TMPDIR: tmp, EXTENSIONS_GALLERY: '{}' };
  // VS Code puts its `vscode-ipc-*.sock` files in XDG_RUNTIME_DIR (else the system temp folder,
  // whatever TMPDIR says): a private one keeps them out of /tmp, unless the path gets too long.
  if (runtime.length <= MAX_RUNTIME_DIR_LENGTH) env.XDG_RUNTIME_DIR = runtime;
  return { home, configFile: join(root, 'config.yaml'), userDataDir, extensionsDir, env: { ...env, ...options.env } };
}

/** Installs a .vsix into the sandbox's extensions folder with code-server's own installer. */
async function installVsix(install: CodeServerInstall, sandbox: Sandbox, vsix: string): Promise<void> {
  const args = [
    install.codeServerEntry,
    '--config', sandbox.configFile,
    '--user-data-dir', sandbox.userDataDir,
    '--extensions-dir', sandbox.extensionsDir,
    '--install-extension', vsix,
  ];
  await writeFile(sandbox.configFile, 'auth: none\ncert: false\n');
  const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve, reject) => {
    const child = spawn(install.nodeBin, args, { cwd: sandbox.home, env: sandbox.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (text += chunk.toString()));
    child.on('error', reject);
    child.on('close', (exitCode) => resolve({ code: exitCode, output: text }));
  });
  if (code !== 0 || !/was successfully installed/.test(output)) {
    throw new Error(`code-server --install-extension ${vsix} failed (exit code ${String(code)}):\n${output}`);
  }
}

async function validateOptions(options: StartCodeServerOptions): Promise<void> {
  if (!isAbsolute(options.workspaceFolder)) {
    throw new Error(`startCodeServer: workspaceFolder must be absolute, got ${options.workspaceFolder}`);
  }
  const folder = await stat(options.workspaceFolder);
  if (!folder.isDirectory()) {
    throw new Error(`startCodeServer: workspaceFolder is not a folder: ${options.workspaceFolder}`);
  }
}

/**
 * An unpacked extension copied to `<extensions>/<publisher>.<name>-<version>/` is found when the
 * server starts (`--install-extension` does not accept folders).
 */
async function copyExtension(sourceDir: string, extensionsDir: string): Promise<void> {
  const manifest = await readManifest(sourceDir);
  const target = join(extensionsDir, `${manifest.publisher}.${manifest.name}-${manifest.version}`.toLowerCase());
  await cp(sourceDir, target, {
    recursive: true,
    filter: (source) => !/[\\/]\.git$/.test(source),
  });
}

async function readManifest(extensionDir: string): Promise<ExtensionManifest> {
  const path = join(extensionDir, 'package.json');
  const parsed: unknown = JSON.parse(await readFile(path, 'utf8'));
  if (
    typeof parsed === 'object' && parsed !== null &&
    'publisher' in parsed && typeof parsed.publisher === 'string' &&
    'name' in parsed && typeof parsed.name === 'string' &&
    'version' in parsed && typeof parsed.version === 'string'
  ) {
    return { publisher: parsed.publisher, name: parsed.name, version: parsed.version };
  }
  throw new Error(`startCodeServer: ${path} lacks a string publisher, name or version`);
}

/**
 * The test process's environment without what would make code-server act on someone else's
 * behalf: VSCODE_IPC_HOOK_CLI (set in VS Code terminals) makes it open folders in *that* VS Code,
 * PASSWORD/HASHED_PASSWORD/CODE_SERVER_* configure it, and NODE_OPTIONS (e.g. `--import tsx`)
 * would be loaded into a Node 24 that cannot resolve it.
 */
function inheritedEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value === undefined) continue;
    if (/^(VSCODE_|CODE_SERVER_|ELECTRON_|npm_)/.test(name)) continue;
    if (['NODE_OPTIONS', 'PASSWORD', 'HASHED_PASSWORD'].includes(name)) continue;
    env[name] = value;
  }
  return env;
}

/** Asks the OS for a free loopback port by binding port 0, then releases it for code-server. */
function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : undefined;
      server.close(() => (port === undefined ? reject(new Error('no port assigned')) : resolve(port)));
    });
  });
}

async function waitUntilHealthy(
  port: number,
  child: ChildProcess,
  timeoutMs: number,
): Promise<'healthy' | 'exited' | 'timeout'> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (hasExited(child)) return 'exited';
    try {
      const response = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2_000) });
      await response.body?.cancel();
      if (response.status === 200) return 'healthy';
    } catch {
      // Not listening yet (ECONNREFUSED) or a slow answer: poll again.
    }
    await sleep(100);
  }
  return 'timeout';
}

/** True once the process ended, or when it never started (spawn failed: no pid). */
function hasExited(child: ChildProcess): boolean {
  return child.pid === undefined || child.exitCode !== null || child.signalCode !== null;
}

function describeExit(child: ChildProcess): string {
  return child.signalCode !== null ? `signal ${child.signalCode}` : `exit code ${String(child.exitCode)}`;
}

/**
 * Returns an idempotent stopper: SIGTERM to code-server, then SIGKILL to its whole process group
 * once it exited or after a grace period. It also arms a synchronous SIGKILL of the group on
 * test-process exit, so that a crashed test leaves no server behind.
 */
function stopProcessGroupOnce(child: ChildProcess): () => Promise<void> {
  const pid = child.pid;
  const killGroup = (signal: NodeJS.Signals): void => {
    if (pid === undefined) return;
    try {
      process.kill(-pid, signal);
    } catch (error: unknown) {
      if (!(error instanceof Error && 'code' in error && error.code === 'ESRCH')) throw error;
    }
  };
  const onExit = (): void => killGroup('SIGKILL');
  process.once('exit', onExit);

  let stopping: Promise<void> | undefined;
  return () => {
    stopping ??= (async () => {
      process.removeListener('exit', onExit);
      const exited = hasExited(child) ? Promise.resolve() : new Promise<void>((resolve) => child.once('exit', () => resolve()));
      // SIGTERM to code-server alone lets it shut its children down in order.
      if (pid !== undefined && !hasExited(child)) process.kill(pid, 'SIGTERM');
      // An unref'd timer: it must not keep the test process alive after everything stopped.
      await Promise.race([exited, sleep(STOP_GRACE_MS, undefined, { ref: false })]);
      // The leader may be gone while the extension host or pty host linger in the group.
      killGroup('SIGKILL');
      await exited;
      child.stdout?.destroy();
      child.stderr?.destroy();
    })();
    return stopping;
  };
}

/** Keeps the last `limit` lines of a process's output, for error messages. */
class OutputTail {
  private readonly lines: string[] = [];
  private partial = '';
  private readonly limit: number;

  constructor(limit: number) {
    this.limit = limit;
  }

  append(chunk: Buffer): void {
    const pieces = (this.partial + chunk.toString('utf8')).split('\n');
    this.partial = pieces.pop() ?? '';
    this.lines.push(...pieces);
    if (this.lines.length > this.limit) this.lines.splice(0, this.lines.length - this.limit);
  }

  text(): string {
    return [...this.lines, this.partial].join('\n').trimEnd();
  }
}
