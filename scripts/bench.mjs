// `npm run bench`: builds, then runs bench/benchSuite.ts, which measures every figure of the performance
// issue against real processes, prints a table and writes docs/BENCHMARKS.md. Arguments pass through:
//   npm run bench -- --smoke            tiny sizes, nothing written (CI runs this through test/bench/)
//   npm run bench -- --sizes=10000,100000
// Speed and memory targets are checked here, never as timed assertions in tests.
import { execFileSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
process.chdir(root);
execFileSync('node', ['scripts/build.mjs'], { stdio: 'inherit' });
execFileSync('node', ['--import', 'tsx', 'bench/benchSuite.ts', ...process.argv.slice(2)], { stdio: 'inherit' });
