// One admin worker, as apps/admin-worker starts it, configured by env.
import { loadEnv } from "@warden/contracts/env";
import { startAdminWorker, workerEnvSchema, workerOptionsFromEnv } from "@warden/worker";
import pino from "pino";

const env = loadEnv(workerEnvSchema, "warden-worker");
const worker = await startAdminWorker(workerOptionsFromEnv(env, pino({ level: env.LOG_LEVEL })));
process.stdout.write("READY {}\n");
const stop = () =>
  worker.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
