export {
  startAdminWorker,
  MAINTENANCE_SCHEDULER_ID,
  type AdminWorker,
  type AdminWorkerOptions,
  type RevocationResult,
} from "./worker.js";
export { workerEnvSchema, workerOptionsFromEnv, type WorkerEnv } from "./config.js";
export { WEBHOOK_TIMEOUT_MS, type WebhookLookup } from "./webhook-http.js";
export type { WebhookSettings } from "./webhooks.js";
