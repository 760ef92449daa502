// Types of privateKeyringSession.mjs (plain JavaScript: the scripts run it on Node 20 without a build).
import type { ChildProcess } from 'node:child_process';

export declare const DEFAULT_KEYRING_PASSWORD: string;
export declare function privateKeyringDir(env: NodeJS.ProcessEnv): string;
export declare function needsPrivateKeyring(env: NodeJS.ProcessEnv, platform?: NodeJS.Platform): boolean;
export declare function canRunPrivateKeyring(): boolean;
export declare function runInKeyringSession(
  argv: readonly string[],
  options: { env: NodeJS.ProcessEnv; password: string; keyringDir: string; stdio?: 'inherit' | 'pipe' },
  onChild?: (child: ChildProcess) => void,
): Promise<number>;
