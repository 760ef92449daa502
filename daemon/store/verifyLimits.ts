/**
 * The most entries the daemon ever leaves unsigned in a row, and the longest time (by `recorded_at`) from
 * the first of them to the last: it signs the chain's end before a batch would go past either bound, so a
 * longer unsigned run means signatures it wrote were removed (docs/entry.md §7.3).
 */
export const MAX_UNSIGNED_ENTRIES = 10_000;
export const MAX_UNSIGNED_MS = 60_000;
