// `npm run bench`: runs each bench/*.ts against a real daemon process and prints one JSON line per result.
// Speed and memory targets are checked here, never as timed assertions in tests.
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';

const root = new URL('..', import.meta.url).pathname;
process.chdir(root);
execFileSync('node', ['scripts/build.mjs'], { stdio: 'inherit' });
for (const file of readdirSync('bench').filter((f) => f.endsWith('.ts')).sort()) {
  process.stderr.write(`[bench] ${file}\n`);
  execFileSync('node', ['--import', 'tsx', `bench/${file}`], { stdio: 'inherit' });
}
