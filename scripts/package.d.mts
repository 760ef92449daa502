// Types of package.mjs, which stays plain JavaScript so that it runs on Node 20 without a build.

/** VS Code target (`vsce --target`) → the @napi-rs/keyring platform package that carries its binary. */
export declare const TARGETS: Readonly<Record<string, string>>;

/** The VS Code target of this machine, or undefined when no .vsix is built for it. */
export declare function hostTarget(): string | undefined;

/** Where `npm run package` writes the .vsix of `target` (into `outDir`, default dist/vsix). */
export declare function vsixPath(target: string, manifest: { readonly name: string; readonly version: string }, outDir?: string): string;

export interface PackagedTarget {
  readonly target: string;
  /** The .vsix file. */
  readonly path: string;
  /** Its size in bytes. */
  readonly size: number;
}

/** Builds the .vsix of one target from the current build (dist/); fetches its keyring binary when needed. */
export declare function packageTarget(
  target: string,
  options?: { readonly log?: (line: string) => void; readonly outDir?: string },
): Promise<PackagedTarget>;

/** SHA-256 (hex) of each shipped file of dist/, by path: what a .vsix was built from (`<vsix>.sources.json`). */
export declare function distDigests(): Promise<Record<string, string>>;

/** The chunks of the CLI bundle that a .vsix and the npm package carry (`dist/cli-chunks/*.mjs`), sorted. */
export declare function cliChunks(): Promise<string[]>;
