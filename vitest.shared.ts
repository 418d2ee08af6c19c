/**
 * Options every test project shares. Project configs do not inherit the root config's `test`
 * block, so each `vitest.config.ts` spreads these in.
 */
export const sharedTestOptions = {
  // Generous: suites share two cores, and slowness is measured by `pnpm bench`, not by tests.
  testTimeout: 60_000,
  hookTimeout: 120_000,
} as const;
