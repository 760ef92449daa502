// Types of privateKeyringSession.mjs (plain JavaScript: the scripts run it on Node 20 without a build).
export declare const DEFAULT_KEYRING_PASSWORD: string;
export declare function privateKeyringDir(env: NodeJS.ProcessEnv): string;
export declare function needsPrivateKeyring(env: NodeJS.ProcessEnv, platform?: NodeJS.Platform): boolean;
export declare function canRunPrivateKeyring(): boolean;
/** Runs `argv` in a private D-Bus session with an unlocked gnome-keyring in `keyringDir`; its exit code. */
export declare function runInKeyringSession(
  argv: readonly string[],
  options: { env: NodeJS.ProcessEnv; password: string; keyringDir: string },
): Promise<number>;
