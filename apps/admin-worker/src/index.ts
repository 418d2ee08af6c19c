export { startAdminWorker, MAINTENANCE_SCHEDULER_ID, type AdminWorker, type AdminWorkerOptions, type RevocationResult } from "./worker.js";
export { envSchema, loadEnv, workerOptionsFromEnv, type WorkerEnv } from "./env.js";
