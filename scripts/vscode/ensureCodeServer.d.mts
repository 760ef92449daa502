// Types of ensureCodeServer.mjs, which stays plain JavaScript so that it runs on Node 20 without a build.

/** The code-server version the harness installs (it ships the VS Code of the same minor version). */
export declare const CODE_SERVER_VERSION: string;
/** Major version of the Node that runs code-server. */
export declare const NODE_MAJOR: number;
/** Debian's Chromium binary. */
export declare const CHROMIUM_PATH: string;

export interface CodeServerInstall {
  /** Node 24 binary to run code-server with. */
  readonly nodeBin: string;
  /** code-server's JavaScript entry point; run it as `nodeBin codeServerEntry …`. */
  readonly codeServerEntry: string;
  /** The Chromium binary for playwright-core. */
  readonly chromiumPath: string;
}

export interface EnsureCodeServerOptions {
  /** Receives progress lines (apt-get and npm output included). Default: stderr. */
  readonly log?: (line: string) => void;
}

/**
 * Installs (once, idempotently, safe against concurrent callers) Chromium, Node 24 and code-server
 * into `${XDG_CACHE_HOME:-~/.cache}/ai-audit-trail/vscode/`. Throws when Debian packages are missing
 * and the process is not root, naming the packages and the command that installs them.
 */
export declare function ensureCodeServer(options?: EnsureCodeServerOptions): Promise<CodeServerInstall>;

/** `env` without the `npm_*` variables that an enclosing `npm run` exports (they mislead inner installs). */
export declare function withoutNpmVariables(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
