import type { Logger } from "pino";
import type { AdminWorkerOptions } from "./worker.js";
import { dataKeyListSetting, dataKeySetting, durationSetting } from "@warden/contracts";
import { z } from "zod";

const duration = durationSetting;

/** The admin worker's configuration (its host's `env.ts` parses the environment with it). */
export const workerEnvSchema = z.object({
  DATABASE_URL: z.url({ message: "DATABASE_URL must be a postgres:// URL" }),
  REDIS_URL: z.url({ message: "REDIS_URL must be a redis:// URL" }).default("redis://127.0.0.1:6379"),
  QUEUE_PREFIX: z
    .string()
    .regex(/^\{[\w.-]+\}$/, { message: "QUEUE_PREFIX must be a Redis hash tag such as {warden}" })
    .default("{warden}"),
  /** Must match the auth servers': feed entries live until the last access token has expired. */
  ACCESS_TOKEN_TTL: duration("15m"),
  REFRESH_TOKEN_TTL: duration("7d"),
  /** Revocation jobs processed at once by this worker. */
  WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(100).default(4),
  /** A job whose worker stops renewing its lock this long is handed to another worker (crash recovery). */
  WORKER_LOCK_DURATION: duration("30s"),
  /** How often the maintenance job prunes. */
  MAINTENANCE_EVERY: duration("1h"),
  /** How long applied events and revoked or expired sessions are kept for the admin views. */
  RETENTION: duration("30d"),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  /**
   * The auth servers' data key (inline or file; keys from before a rotation comma-separated).
   * Optional: the worker derives nothing from it yet, but a bad value already fails at start.
   */
  WARDEN_DATA_KEY: dataKeySetting,
  WARDEN_DATA_KEY_FILE: z.string().optional(),
  WARDEN_DATA_KEY_PREVIOUS: dataKeyListSetting,
});

export type WorkerEnv = z.infer<typeof workerEnvSchema>;

/** The worker's options as its configuration gives them (shared by main.ts and the bench). */
export function workerOptionsFromEnv(env: WorkerEnv, logger: Logger): AdminWorkerOptions {
  return {
    databaseUrl: env.DATABASE_URL,
    redisUrl: env.REDIS_URL,
    prefix: env.QUEUE_PREFIX,
    accessTokenTtlMs: env.ACCESS_TOKEN_TTL,
    refreshTokenTtlMs: env.REFRESH_TOKEN_TTL,
    concurrency: env.WORKER_CONCURRENCY,
    lockDurationMs: env.WORKER_LOCK_DURATION,
    maintenanceEveryMs: env.MAINTENANCE_EVERY,
    retentionMs: env.RETENTION,
    logger,
  };
}
