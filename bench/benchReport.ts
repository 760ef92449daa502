// The bench's result table, printed and written to docs/BENCHMARKS.md.
import { execFileSync } from 'node:child_process';
import { cpus, loadavg, totalmem } from 'node:os';

export interface Figure {
  /** Stable id, for the smoke test. */
  id: string;
  figure: string;
  /** The daemon's value, formatted. */
  value: string;
  /** What it is compared with, formatted (or '—'). */
  compared: string;
  /** The measured ratio or bound, formatted. */
  result: string;
  /** CPU µs per event, daemon / comparison, and the ratio by CPU time (throughput figures only). */
  cpu?: string;
  target: string;
  /** true met, false missed, null pending / not measurable here. */
  met: boolean | null;
}

export interface GrowthRow {
  entries: number;
  cells: Record<string, string>;
}

export interface Report {
  rounds: number;
  smoke: boolean;
  figures: Figure[];
  growth: GrowthRow[];
  growthColumns: Array<[string, string]>;
  notes: string[];
}

function commit(): string {
  try {
    const sha = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).trim() !== '';
    return dirty ? `${sha} (with uncommitted changes)` : sha;
  } catch {
    return 'unknown';
  }
}

export function machine(): string {
  const cpu = cpus();
  return `${cpu.length} × ${cpu[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${process.platform}`;
}

export function renderTable(report: Report): string {
  const lines = ['| figure | daemon | compared with | ratio / bound | target | met | CPU per event: daemon / comparison = ratio |', '|---|---|---|---|---|---|---|'];
  for (const f of report.figures) {
    lines.push(`| ${f.figure} | ${f.value} | ${f.compared} | ${f.result} | ${f.target} | ${f.met === null ? 'pending' : f.met ? 'yes' : '**no**'} | ${f.cpu ?? '—'} |`);
  }
  return lines.join('\n');
}

export function renderGrowth(report: Report): string {
  const head = ['| entries |', ...report.growthColumns.map(([, title]) => ` ${title} |`)].join('');
  const rule = `|---|${report.growthColumns.map(() => '---|').join('')}`;
  const rows = report.growth.map((row) => `| ${row.entries.toLocaleString('en')} |${report.growthColumns.map(([key]) => ` ${row.cells[key] ?? '—'} |`).join('')}`);
  return [head, rule, ...rows].join('\n');
}

export function renderMarkdown(report: Report, startedLoad: number[]): string {
  return [
    '# Benchmarks',
    '',
    'Written by `npm run bench` (`scripts/bench.mjs`, figures in `bench/benchSuite.ts`). Every figure runs against real',
    'processes: a daemon started with `ai-audit daemon`, and the plain loggers in their own process',
    '(`bench/baselineWriter.ts`). Comparisons are interleaved in one run (daemon, pino, raw writers, … in turn, each',
    `round) and each value is the median of ${report.rounds} rounds. Ratios are the daemon's figure over the comparison's.`,
    '',
    `- machine: ${machine()}`,
    `- load average at start: ${startedLoad.map((l) => l.toFixed(1)).join(' / ')} (1/5/15 min), at end: ${loadavg().map((l) => l.toFixed(1)).join(' / ')}`,
    `- date: ${new Date().toISOString()}`,
    `- commit: ${commit()}`,
    '',
    renderTable(report),
    '',
    '## Growth with the size of the store',
    '',
    'Each store is filled through the store\'s own writer (`bench/generateStore.ts`), spread over 90 days, 5 % blocked;',
    'then a daemon is started on it.',
    '',
    renderGrowth(report),
    '',
    '## Notes',
    '',
    ...report.notes.map((n) => `- ${n}`),
    '',
  ].join('\n');
}
