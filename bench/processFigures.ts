// What the bench reads about another process (the daemon) from /proc: its CPU time and resident memory.
// One place, so that every figure and profiling script counts CPU the same way.
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';

/** Clock ticks per second of /proc's CPU counters (usually 100, asked of the system rather than assumed). */
export const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** CPU time (user + system, µs) a process has used so far, all its threads together. */
export async function cpuUs(pid: number): Promise<number> {
  return statCpuUs(`/proc/${pid}/stat`);
}

/** CPU time of a process's main thread alone (its JavaScript thread), µs: what bounds its throughput. */
export async function mainThreadCpuUs(pid: number): Promise<number> {
  return statCpuUs(`/proc/${pid}/task/${pid}/stat`);
}

async function statCpuUs(file: string): Promise<number> {
  const stat = await readFile(file, 'utf8');
  // Fields after the command name, which is in parentheses and may itself hold spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLOCK_TICKS;
}

/** Resident memory of a process, MB. */
export async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}
