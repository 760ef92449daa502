// What `npm start` says when VS Code has ended: the audit daemon the extension started keeps running
// (detached, so that the trail stays available to the CLI and the next window), and how to stop it.
import { execFile } from 'node:child_process';

/**
 * Asks the built CLI whether a daemon serves the default data dir (or AI_AUDIT_HOME in `env`).
 * @param {{ cli: string, env: NodeJS.ProcessEnv }} options  `cli`: the path of dist/cli.mjs
 * @returns {Promise<string[]>} the lines to print; none when no daemon runs
 */
export function runningDaemonNotice({ cli, env }) {
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, 'status', '--json'], { env }, (_error, stdout) => {
      let status;
      try {
        status = JSON.parse(stdout);
      } catch {
        resolve([]);
        return;
      }
      if (status?.running !== true || typeof status.pid !== 'number') {
        resolve([]);
        return;
      }
      resolve([
        `the audit daemon keeps running (pid ${status.pid}, data dir ${status.home}): the CLI (npx ai-audit …) and the next VS Code use it.`,
        `stop it with: kill ${status.pid}   (it finishes the batch in flight, signs a last checkpoint and exits)`,
      ]);
    });
  });
}
