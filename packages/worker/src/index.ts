export {
  startAdminWorker,
  MAINTENANCE_SCHEDULER_ID,
  type AdminWorker,
  type AdminWorkerOptions,
  type RevocationResult,
} from "./worker.js";
export { workerEnvSchema, workerOptionsFromEnv, type WorkerEnv } from "./config.js";
