/**
 * Options every test project shares. Project configs do not inherit the root config's `test`
 * block, so each `vitest.config.ts` spreads these in.
 */
export const sharedTestOptions = {
  testTimeout: 30_000,
  hookTimeout: 60_000,
} as const;
