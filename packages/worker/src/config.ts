import type { Logger } from "pino";
import type { AdminWorkerOptions } from "./worker.js";
import { loadDataKeys } from "@warden/auth";
import { durationSetting, redisTargetOf } from "@warden/contracts";
import { sharedEnvSchema } from "@warden/contracts/env";
import { metricsTokenSetting } from "@warden/metrics";
import { z } from "zod";

const duration = durationSetting;

/**
 * The admin worker's configuration: the settings every process shares (ACCESS_TOKEN_TTL must
 * match the auth servers': feed entries live until the last access token has expired;
 * WARDEN_DATA_KEY* must be the servers' when SMTP_URL is set: emailed links are derived from it)
 * and the worker's own. Its host's `env.ts` parses the environment with it.
 */
export const workerEnvSchema = sharedEnvSchema.extend({
  /** Required here: the worker has no embedded database to fall back on. */
  DATABASE_URL: z.url({ message: "DATABASE_URL must be a postgres:// URL" }),
  /** Revocation jobs processed at once by this worker. */
  WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(100).default(4),
  /** A job whose worker stops renewing its lock this long is handed to another worker (crash recovery). */
  WORKER_LOCK_DURATION: duration("30s"),
  /** How often the maintenance job prunes. */
  MAINTENANCE_EVERY: duration("1h"),
  /** How long applied events and revoked or expired sessions are kept for the admin views. */
  RETENTION: duration("30d"),
  /** How often the revocation feed in Redis is compared with PostgreSQL (and rebuilt when Redis lost it). */
  FEED_CHECK_EVERY: duration("2s"),
  /** Where emails go out: `smtp://user:pass@host:587` or `smtps://...`; unset, email jobs wait in their queue. */
  SMTP_URL: z
    .string()
    .regex(/^smtps?:\/\/[^\s]+$/, { message: "SMTP_URL must be an smtp:// or smtps:// URL" })
    .optional(),
  MAIL_FROM: z.string().min(3).default("Warden <no-reply@localhost>"),
  /** The base of the links in emails: where users reach the console (e.g. https://auth.example.com). */
  PUBLIC_URL: z.url({ message: "PUBLIC_URL must be an http(s):// URL" }).default("http://localhost:3000"),
  /** Serve Prometheus metrics at http://METRICS_HOST:METRICS_PORT/metrics; unset, none are served. */
  METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  METRICS_HOST: z.string().min(1).default("127.0.0.1"),
  /** When set, scrapes need `Authorization: Bearer <METRICS_TOKEN>`; unset, the port is open (firewall it). */
  METRICS_TOKEN: metricsTokenSetting,
});

export type WorkerEnv = z.infer<typeof workerEnvSchema>;

/** The worker's options as its configuration gives them (shared by main.ts and the bench). */
export function workerOptionsFromEnv(env: WorkerEnv, logger: Logger): AdminWorkerOptions {
  return {
    databaseUrl: env.DATABASE_URL,
    redis: redisTargetOf(env),
    prefix: env.QUEUE_PREFIX,
    accessTokenTtlMs: env.ACCESS_TOKEN_TTL,
    refreshTokenTtlMs: env.REFRESH_TOKEN_TTL,
    concurrency: env.WORKER_CONCURRENCY,
    lockDurationMs: env.WORKER_LOCK_DURATION,
    maintenanceEveryMs: env.MAINTENANCE_EVERY,
    retentionMs: env.RETENTION,
    feedCheckEveryMs: env.FEED_CHECK_EVERY,
    dataKeys: loadDataKeys({
      key: env.WARDEN_DATA_KEY,
      keyFile: env.WARDEN_DATA_KEY_FILE,
      previous: env.WARDEN_DATA_KEY_PREVIOUS,
    }),
    email: env.SMTP_URL ? { smtpUrl: env.SMTP_URL, from: env.MAIL_FROM, publicUrl: env.PUBLIC_URL } : undefined,
    webhooks: { allowLocal: env.WEBHOOKS_ALLOW_LOCAL },
    metrics:
      env.METRICS_PORT === undefined ? undefined : { port: env.METRICS_PORT, host: env.METRICS_HOST, token: env.METRICS_TOKEN },
    logger,
  };
}
