// Raises the scheduling priority of one test run's Chromium (every thread of every process of it), for
// measures of the page's own work (long tasks) on a machine whose other processes keep both cores busy:
// there, a frame that needs 20 ms of CPU waits its turn for hundreds of milliseconds of wall time.

import { readdir, readFile, writeFile } from 'node:fs/promises';
import { setPriority } from 'node:os';

/** The nice value given; negative values need root (or CAP_SYS_NICE). */
const RAISED = -10;

async function processes(): Promise<Array<{ pid: number; ppid: number; cmdline: string }>> {
  const out: Array<{ pid: number; ppid: number; cmdline: string }> = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    // `pid (comm) state ppid …`; comm may hold spaces and parentheses: read after the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    const cmdline = await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '');
    if (Number.isInteger(ppid)) out.push({ pid: Number(name), ppid, cmdline });
  }
  return out;
}

/**
 * Gives the Chromium started with `profileDir`, and all its child processes and their threads, a higher
 * priority. Returns how many threads were changed, or the reason it could not (e.g. not root), so the
 * test can say how it measured.
 */
export async function raiseBrowserPriority(profileDir: string): Promise<{ threads: number; autogroup: boolean } | { skipped: string }> {
  if (process.platform !== 'linux') return { skipped: `not on Linux (${process.platform})` };
  const all = await processes();
  const browser = new Set(all.filter((p) => p.cmdline.includes(profileDir)).map((p) => p.pid));
  if (browser.size === 0) return { skipped: 'no Chromium process found for the profile' };
  for (let grew = true; grew; ) {
    grew = false;
    for (const p of all) {
      if (!browser.has(p.pid) && browser.has(p.ppid)) {
        browser.add(p.pid);
        grew = true;
      }
    }
  }
  // With the kernel's autogroup scheduling (each session one group, groups share the CPU evenly), a thread's
  // nice counts only inside its group: Chromium runs in a session of its own, whose group nice is what counts.
  let autogroup = false;
  for (const pid of browser) {
    try {
      await writeFile(`/proc/${pid}/autogroup`, String(RAISED));
      autogroup = true;
    } catch {
      // No autogroup scheduling here, or the process ended.
    }
  }
  let threads = 0;
  for (const pid of browser) {
    for (const tid of await readdir(`/proc/${pid}/task`).catch(() => [])) {
      try {
        setPriority(Number(tid), RAISED);
        threads++;
      } catch (error: unknown) {
        // Node's SystemError keeps the errno name in `info.code`.
        const failure = error as { code?: string; info?: { code?: string } };
        const code = failure.info?.code ?? failure.code;
        if (code === 'EACCES' || code === 'EPERM') return { skipped: `cannot raise priorities here (${code})` };
        // ESRCH: the thread ended meanwhile.
      }
    }
  }
  return { threads, autogroup };
}
