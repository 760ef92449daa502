/**
 * The reliability suite runs at two sizes: `npm test` runs it at CI size (fast enough for every run), and
 * `npm run test:reliability` sets `AI_AUDIT_RELIABILITY=full` for the sizes docs/RELIABILITY.md reports.
 */
export const reliabilityFull = process.env.AI_AUDIT_RELIABILITY === 'full';

/** `sizes.ci` in a normal test run, `sizes.full` under `npm run test:reliability`. */
export function reliabilitySize<T>(sizes: { ci: T; full: T }): T {
  return reliabilityFull ? sizes.full : sizes.ci;
}
