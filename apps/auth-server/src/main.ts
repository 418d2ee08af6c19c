import { pathToFileURL } from "node:url";
import { createAuth, ensureAdmin, revocationUntil, type Auth } from "@warden/auth";
import { emailSchema } from "@warden/contracts";
import { createDb, migrateDb } from "@warden/db";
import { publishRevocations, startRevocationFeed } from "@warden/verifier";
import { Redis } from "ioredis";
import { loadEnv, type Env } from "./env.js";
import { loadKeyRing, loadServerDataKeys } from "./keys.js";
import { createLogger } from "./logger.js";
import { createRateLimiter, rateLimitsFromEnv } from "./rate-limit.js";
import { startOutboxRelay } from "./relay.js";
import { buildServer } from "./server.js";
import { consoleDirFor, registerConsole } from "./console.js";

export interface RunningServer {
  url: string;
  close(): Promise<void>;
}

/** Starts one auth-server instance from its configuration. */
export async function startAuthServer(env: Env): Promise<RunningServer> {
  const logger = createLogger(env.LOG_LEVEL);
  // Before connecting anywhere: a missing or bad key is a configuration error, not an outage.
  const dataKeys = loadServerDataKeys(env);
  if (!env.DATABASE_URL) throw new Error("DATABASE_URL is required (pnpm start provides an embedded one)");
  await migrateDb(env.DATABASE_URL);
  const database = createDb(env.DATABASE_URL, { max: 20 });
  const redis = new Redis(env.REDIS_URL, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => Math.min(times * 200, 2000),
  });
  redis.on("error", () => {});
  await redis.connect().catch((err: Error) => logger.warn({ err: err.message }, "redis not reachable yet; retrying"));

  const relay = startOutboxRelay({
    db: database.db,
    redisUrl: env.REDIS_URL,
    prefix: env.QUEUE_PREFIX,
    logger,
    pollIntervalMs: env.RELAY_POLL_INTERVAL,
  });
  // After a revoking commit: wake the relay (the durable path, through the worker) and publish the
  // sessions straight to the feed (the fast path: other instances refuse them within milliseconds).
  // Neither is awaited, and both fail fast, so a Redis outage never fails or slows the call.
  let authRef: Auth | undefined;
  const afterRevocation = (event: { at: number }, sessionIds: string[]) => {
    if (authRef && sessionIds.length > 0 && redis.status === "ready") {
      publishRevocations(redis, sessionIds, revocationUntil(authRef, event.at), env.QUEUE_PREFIX).catch((err: Error) =>
        logger.warn({ err: err.message }, "revocation fast path failed; the worker will publish it"),
      );
    }
    relay.wake();
  };

  const auth = createAuth({
    afterRevocation,
    db: database.db,
    keys: loadKeyRing(env),
    dataKeys,
    settings: {
      issuer: env.JWT_ISSUER,
      audience: env.JWT_AUDIENCE,
      accessTokenTtlMs: env.ACCESS_TOKEN_TTL,
      refreshTokenTtlMs: env.REFRESH_TOKEN_TTL,
      sessionMaxAgeMs: env.SESSION_MAX_AGE,
      refreshReuseGraceMs: env.REFRESH_REUSE_GRACE,
    },
  });
  authRef = auth;
  const feed = startRevocationFeed({
    redisUrl: env.REDIS_URL,
    prefix: env.QUEUE_PREFIX,
    sink: auth.revocations,
    onError: (err) => logger.debug({ err: err.message }, "revocation feed error"),
  });
  const feedReady = await Promise.race([
    feed.ready().then(() => true),
    new Promise<boolean>((r) => setTimeout(() => r(false), env.FEED_READY_TIMEOUT).unref()),
  ]);
  if (!feedReady) logger.warn("revocation feed not loaded yet (redis down?); serving, it loads when redis answers");

  if (env.WARDEN_ADMIN_EMAIL && env.WARDEN_ADMIN_PASSWORD) {
    const email = emailSchema.parse(env.WARDEN_ADMIN_EMAIL);
    await ensureAdmin(auth, email, env.WARDEN_ADMIN_PASSWORD);
    logger.info({ email }, "admin account ensured");
  }

  const app = await buildServer({
    auth,
    logger,
    corsOrigins: env.CORS_ORIGINS,
    cookieSecure: env.COOKIE_SECURE,
    bodyLimit: env.BODY_LIMIT,
    trustProxy: env.TRUST_PROXY,
    // RATE_LIMITS=false turns them off (load tests, a trusted network behind another limiter).
    rateLimiter: env.RATE_LIMITS ? createRateLimiter({ redis, prefix: env.QUEUE_PREFIX, limits: rateLimitsFromEnv(env) }) : undefined,
    extend: async (server) => {
      const consoleDir = consoleDirFor(env.CONSOLE_DIR);
      if (consoleDir) await registerConsole(server, consoleDir);
    },
    health: {
      db: async () => (await database.sql`select 1 as ok`).length === 1,
      redis: async () => redis.status === "ready" && (await redis.ping()) === "PONG",
    },
  });
  const address = await app.listen({ port: env.PORT, host: env.HOST });
  logger.info({ address }, "warden auth server listening");

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      await app.close();
      await relay.close();
      await feed.close();
      auth.revocations.close();
      await database.close();
      redis.disconnect();
    })());
  return { url: address, close };
}

/** Closes cleanly on SIGTERM/SIGINT: in-flight requests finish, connections are released. */
export function closeOnSignals(close: () => Promise<void>): void {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`warden: ${signal}, shutting down\n`);
    close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  // `on`, not `once`: under tsx a signal with no listener left exits at once (code 143),
  // which would cut the shutdown short.
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const env = loadEnv();
  startAuthServer(env).then(
    (server) => closeOnSignals(server.close),
    (error: Error) => {
      process.stderr.write(`warden: could not start: ${error.message}\n`);
      process.exit(1);
    },
  );
}
