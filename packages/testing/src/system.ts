import { randomUUID } from "node:crypto";
import { generateDataKey, loadDataKeys } from "@warden/auth";
import { serverEnvSchema, startAuthServer, type RunningServer } from "@warden/server";
import { startAdminWorker, type AdminWorker } from "@warden/worker";
import { createTestDatabase, type TestDatabase } from "@warden/db/testing";
import { Redis } from "ioredis";
import pino from "pino";

export const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

export interface WardenSystem {
  url: string;
  database: TestDatabase;
  admin: { email: string; password: string };
  /** The Redis key prefix of the queue and the revocation feed (a verifier's `queuePrefix`). */
  prefix: string;
  /** Stops the worker only (revocations then stay pending); `startWorker` brings it back. */
  stopWorker(): Promise<void>;
  startWorker(): Promise<void>;
  close(): Promise<void>;
}

/** The worker sends emails: SMTP_URL (e.g. `startMailbox().url`) and MAIL_FROM; PUBLIC_URL is the server's URL. */
interface SystemMail {
  smtpUrl: string;
  from?: string;
}

/**
 * The real thing for end-to-end tests: a fresh database, the auth server as `pnpm start` runs it
 * (relay, feed, HTTP on port 0) and one admin worker, on a Redis prefix of their own. `env`
 * overrides the server's settings. With `mail`, the worker sends emails whose links point at the
 * server (its /console/ pages), rebuilt with the data key the server and the worker share.
 */
export async function startWardenSystem(
  options: { consoleDir?: string; env?: Record<string, string>; mail?: SystemMail } = {},
): Promise<WardenSystem> {
  const database = await createTestDatabase();
  const prefix = `{warden-t-${randomUUID().slice(0, 8)}}`;
  const admin = { email: "root@example.com", password: "correct horse battery" };
  const dataKey = options.env?.WARDEN_DATA_KEY ?? generateDataKey();
  const server: RunningServer = await startAuthServer(
    serverEnvSchema.parse({
      PORT: "0",
      DATABASE_URL: database.url,
      REDIS_URL,
      QUEUE_PREFIX: prefix,
      RELAY_POLL_INTERVAL: "200ms",
      JWT_ALG: "HS256",
      JWT_SECRET: randomUUID() + randomUUID(),
      WARDEN_DATA_KEY: dataKey,
      WARDEN_ADMIN_EMAIL: admin.email,
      WARDEN_ADMIN_PASSWORD: admin.password,
      COOKIE_SECURE: "false",
      RATE_LIMITS: "false",
      LOG_LEVEL: "silent",
      ...(options.consoleDir ? { CONSOLE_DIR: options.consoleDir } : {}),
      // Overrides for a test's own needs (rate limits on, short budgets, ...).
      ...options.env,
    }),
  );
  let worker: AdminWorker | undefined;
  const startWorker = async () => {
    worker = await startAdminWorker({
      databaseUrl: database.url,
      redis: REDIS_URL,
      prefix,
      accessTokenTtlMs: 15 * 60_000,
      refreshTokenTtlMs: 7 * 86_400_000,
      // The server's data key: webhook secrets are sealed under it (and emailed links derived from it).
      dataKeys: loadDataKeys({ key: dataKey }),
      webhooks: { allowLocal: options.env?.WEBHOOKS_ALLOW_LOCAL === "true" },
      ...(options.mail
        ? {
            email: {
              smtpUrl: options.mail.smtpUrl,
              from: options.mail.from ?? "Warden <no-reply@example.test>",
              publicUrl: server.url,
            },
          }
        : {}),
      logger: pino({ level: "silent" }),
    });
  };
  const stopWorker = async () => {
    await worker?.close();
    worker = undefined;
  };
  await startWorker();
  return {
    url: server.url,
    database,
    admin,
    prefix,
    startWorker,
    stopWorker,
    async close() {
      await stopWorker();
      await server.close();
      await database.close();
      const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
      redis.on("error", () => {});
      try {
        const keys = await redis.keys(`${prefix}*`);
        if (keys.length) await redis.del(...keys);
      } finally {
        redis.disconnect();
      }
    },
  };
}
