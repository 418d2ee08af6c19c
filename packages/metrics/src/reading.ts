/** How long a scrape waits for one reading of PostgreSQL or Redis before showing it as unknown. */
export const SCRAPE_READING_TIMEOUT_MS = 1_000;

/**
 * A reading of a dependency taken at scrape time (an outbox count, queue counts), shared by every
 * gauge that shows part of it. Callers while a read runs (one scrape's gauges, two scrapers) share
 * it; a read that fails, or is still running after `timeoutMs`, gives undefined (the gauges show
 * NaN). A read that hangs is not started again until it ends, so a dependency that does not answer
 * neither hangs a scrape nor piles reads up behind it.
 */
export function scrapeReading<T>(read: () => Promise<T>, timeoutMs = SCRAPE_READING_TIMEOUT_MS): () => Promise<T | undefined> {
  let running: Promise<T | undefined> | undefined;
  return () => {
    running ??= read()
      .catch(() => undefined)
      .finally(() => (running = undefined));
    return withinTimeout(running, timeoutMs);
  };
}

function withinTimeout<T>(promise: Promise<T | undefined>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
