import { loadEnv as parseOnce } from "@warden/contracts/env";
import { workerEnvSchema, type WorkerEnv } from "@warden/worker";

/**
 * The worker's configuration, parsed once at start: the shared settings and the worker's own
 * (`workerEnvSchema`). The only place this process reads `process.env`.
 */
export function loadEnv(source: NodeJS.ProcessEnv = process.env): WorkerEnv {
  return parseOnce(workerEnvSchema, "warden-worker", source);
}
