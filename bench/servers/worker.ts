// One admin worker, as apps/admin-worker starts it, configured by env.
import { loadEnv, startAdminWorker } from "@warden/admin-worker";
import pino from "pino";

const env = loadEnv();
const worker = await startAdminWorker({
  databaseUrl: env.DATABASE_URL,
  redisUrl: env.REDIS_URL,
  prefix: env.QUEUE_PREFIX,
  accessTokenTtlMs: env.ACCESS_TOKEN_TTL,
  refreshTokenTtlMs: env.REFRESH_TOKEN_TTL,
  concurrency: env.WORKER_CONCURRENCY,
  lockDurationMs: env.WORKER_LOCK_DURATION,
  maintenanceEveryMs: env.MAINTENANCE_EVERY,
  retentionMs: env.RETENTION,
  logger: pino({ level: env.LOG_LEVEL }),
});
process.stdout.write("READY {}\n");
const stop = () =>
  worker.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
