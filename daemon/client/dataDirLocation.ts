import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * The data dir: `--home`, else `AI_AUDIT_HOME`, else the platform's per-user data folder.
 * Linux `$XDG_DATA_HOME/ai-audit-trail` (default `~/.local/share/ai-audit-trail`), macOS
 * `~/Library/Application Support/ai-audit-trail`, Windows `%LOCALAPPDATA%\ai-audit-trail`.
 */
export function resolveDataDir(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  if (flag !== undefined && flag !== '') return resolve(flag);
  if (env.AI_AUDIT_HOME !== undefined && env.AI_AUDIT_HOME !== '') return resolve(env.AI_AUDIT_HOME);
  const home = homedir();
  if (process.platform === 'darwin') return join(home, 'Library', 'Application Support', 'ai-audit-trail');
  if (process.platform === 'win32') return join(env.LOCALAPPDATA ?? join(home, 'AppData', 'Local'), 'ai-audit-trail');
  return join(env.XDG_DATA_HOME ?? join(home, '.local', 'share'), 'ai-audit-trail');
}

