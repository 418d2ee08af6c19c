import { collectDefaultMetrics, Registry } from "prom-client";

/** Every Warden metric name starts with it, the process metrics included. */
export const METRICS_PREFIX = "warden_";

/**
 * The registry of one process (never prom-client's global one: tests run several servers in one
 * process), with Node's process metrics (CPU, memory, event-loop lag, GC, handles) under the
 * `warden_` prefix.
 */
export function createMetricsRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: METRICS_PREFIX });
  return registry;
}
