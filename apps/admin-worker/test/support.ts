import { createAuth, startOutboxRelay, type Auth, type DataKeys, type OutboxRelay } from "@warden/auth";
import { type createTestKeyRing, TEST_AUDIENCE, TEST_ISSUER } from "@warden/auth/testing";
import type { TestDatabase } from "@warden/db/testing";
import { RevocationSet, startRevocationFeed, type RevocationFeed } from "@warden/revocations";
import { deleteKeys } from "@warden/testing";
import { Redis } from "ioredis";
import pino from "pino";
import { startAdminWorker, type AdminWorker } from "@warden/worker";

export const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
export const ACCESS_TOKEN_TTL_MS = 15 * 60_000;
export const quietLogger = pino({ level: "silent" });

// A key and queue prefix of a test file's own (hash-tagged, like production's), and polling.
export { testPrefix, waitFor } from "@warden/testing";

export async function deletePrefix(redisUrl: string, prefix: string): Promise<void> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  redis.on("error", () => {});
  try {
    await deleteKeys(redis, prefix);
  } catch {
    // That Redis is gone already: nothing left to clean.
  } finally {
    redis.disconnect();
  }
}

export interface Instance {
  auth: Auth;
  relay: OutboxRelay;
  feed: RevocationFeed;
  close(): Promise<void>;
}

/**
 * One auth-server instance without HTTP: its own revocation set kept current by the feed, and an
 * outbox relay woken after each revoking commit. No fast path: what reaches the other instances
 * is what the worker publishes.
 */
export async function startInstance(
  database: TestDatabase,
  opts: {
    redisUrl: string;
    prefix: string;
    keys: ReturnType<typeof createTestKeyRing>;
    refreshReuseGraceMs?: number;
    /** Shared with the worker when it sends emails (their links are derived from it) or webhooks (their secrets are sealed under it). */
    dataKeys?: DataKeys;
    /** WEBHOOKS_ALLOW_LOCAL on this instance: webhooks may point to loopback. */
    webhooksAllowLocal?: boolean;
  },
): Promise<Instance> {
  const relay = startOutboxRelay({
    db: database.db,
    redis: opts.redisUrl,
    prefix: opts.prefix,
    logger: quietLogger,
    pollIntervalMs: 200,
  });
  const revocations = new RevocationSet();
  const auth = createAuth({
    db: database.db,
    keys: opts.keys,
    settings: {
      issuer: TEST_ISSUER,
      audience: TEST_AUDIENCE,
      accessTokenTtlMs: ACCESS_TOKEN_TTL_MS,
      ...(opts.refreshReuseGraceMs === undefined ? {} : { refreshReuseGraceMs: opts.refreshReuseGraceMs }),
      ...(opts.webhooksAllowLocal === undefined ? {} : { webhooksAllowLocal: opts.webhooksAllowLocal }),
    },
    revocations,
    ...(opts.dataKeys ? { dataKeys: opts.dataKeys } : {}),
    afterRevocation: () => relay.wake(),
  });
  const feed = startRevocationFeed({ redis: opts.redisUrl, prefix: opts.prefix, sink: revocations });
  return {
    auth,
    relay,
    feed,
    async close() {
      await relay.close();
      await feed.close();
      revocations.close();
    },
  };
}

export function startWorker(
  database: TestDatabase,
  opts: { redisUrl: string; prefix: string; lockDurationMs?: number },
): Promise<AdminWorker> {
  return startAdminWorker({
    databaseUrl: database.url,
    redis: opts.redisUrl,
    prefix: opts.prefix,
    accessTokenTtlMs: ACCESS_TOKEN_TTL_MS,
    refreshTokenTtlMs: 7 * 86_400_000,
    concurrency: 2,
    lockDurationMs: opts.lockDurationMs ?? 30_000,
    logger: quietLogger,
  });
}
