import { readFileSync } from 'node:fs';
import type { SchedulerClock } from './exportService.ts';

/**
 * The scheduler's clock and poll interval from the environment. Normally real time. For tests of
 * schedules in a real daemon process, `AI_AUDIT_TEST_CLOCK_FILE` names a file holding an ISO time that
 * the test moves forward; `AI_AUDIT_EXPORT_CHUNK` makes chunks small. Neither is meant for users.
 */
export function schedulerClockFromEnv(env: NodeJS.ProcessEnv): { clock?: SchedulerClock; pollMs?: number; chunkEntries?: number } {
  const result: { clock?: SchedulerClock; pollMs?: number; chunkEntries?: number } = {};
  const file = env.AI_AUDIT_TEST_CLOCK_FILE;
  if (file !== undefined && file !== '') {
    let last = Date.now();
    result.clock = {
      now: () => {
        try {
          const ms = Date.parse(readFileSync(file, 'utf8').trim());
          if (!Number.isNaN(ms)) last = ms;
        } catch {
          // Keep the last time read while the test rewrites the file.
        }
        return last;
      },
    };
    result.pollMs = 100;
  }
  const chunk = Number(env.AI_AUDIT_EXPORT_CHUNK);
  if (Number.isInteger(chunk) && chunk > 0) result.chunkEntries = chunk;
  return result;
}
