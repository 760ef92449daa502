import type { ChildProcess } from 'node:child_process';

/** Waits for a server child process to print its port (the first group of `pattern`); fails with its output when it exits first. */
export function listeningPort(child: ChildProcess, pattern: RegExp, name: string): Promise<number> {
  let output = '';
  return new Promise<number>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      output += chunk.toString('utf8');
      const match = pattern.exec(output);
      if (match?.[1] !== undefined) {
        child.stdout?.off('data', onData);
        child.stdout?.resume();
        resolve(Number(match[1]));
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
    });
    child.once('exit', (code) => reject(new Error(`${name} exited (${code}) before listening: ${output.slice(-2000)}`)));
  });
}
