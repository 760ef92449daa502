import { once } from 'node:events';
import { runCli } from './cliMain.ts';

// The `ai-audit` executable: the one place that turns a result into a process exit.
const stopSignal = Promise.race([once(process, 'SIGINT'), once(process, 'SIGTERM')]).then(([signal]) => String(signal ?? 'signal'));
const code = await runCli(process.argv.slice(2), {
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  stopSignal,
});
// Exit explicitly: an idle stdin pipe or the signal listeners must not keep a finished command alive.
process.stdout.write('', () => process.exit(code));
