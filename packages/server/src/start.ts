import type { AnyTRPCRouter } from "@trpc/server";
import {
  createAdmin,
  createAuth,
  loadRevocationsFromDatabase,
  outboxBacklog,
  recanonicalizeEmails,
  revocationUntil,
  startOutboxRelay,
  type Auth,
} from "@warden/auth";
import { describeRedisTarget, notBeforeOf, redisTargetOf, type RevocationEvent } from "@warden/contracts";
import { createDb, migrateDb } from "@warden/db";
import {
  connectRedis,
  publishNotBefore,
  publishRevocations,
  redisAnswers,
  startRevocationFeed,
  watchRedisRequirements,
} from "@warden/revocations";
import type { DestinationStream, Logger } from "pino";
import type { ServerEnv } from "./config.js";
import { loadKeyRing, loadServerDataKeys } from "./keys.js";
import { createLogger } from "./logger.js";
import { createServerMetrics } from "./metrics.js";
import { createRateLimiter, rateLimitsFromEnv } from "./rate-limit.js";
import { buildServer } from "./server.js";
import { registerConsole } from "./console.js";

export interface RunningServer {
  url: string;
  /** The instance's domain context (tests drive domain functions on a given instance through it). */
  auth: Auth;
  close(): Promise<void>;
}

export interface StartOptions {
  /** Where the log goes (default stdout); tests read it. */
  logDestination?: DestinationStream;
  /**
   * What /trpc serves instead of Warden's router. The bench serves Warden's with a no-op procedure
   * beside it, to compare the two calls in one process; production never sets it.
   */
  router?: AnyTRPCRouter;
}

/** Starts one auth-server instance from its configuration. */
export async function startAuthServer(env: ServerEnv, options: StartOptions = {}): Promise<RunningServer> {
  const logger = createLogger(env.LOG_LEVEL, options.logDestination, env.LOG_FORMAT);
  // Before connecting anywhere: a missing or bad key is a configuration error, not an outage.
  const dataKeys = loadServerDataKeys(env);
  if (!env.DATABASE_URL) throw new Error("DATABASE_URL is required (pnpm start provides an embedded one)");
  await migrateDb(env.DATABASE_URL);
  const database = createDb(env.DATABASE_URL, { max: 20 });
  const metrics = createServerMetrics();
  const redisTarget = redisTargetOf(env);
  const redis = connectRedis(redisTarget, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => Math.min(times * 200, 2000),
  });
  redis.on("error", () => {});
  // BullMQ and the feed need keys never to be evicted: checked at each (re)connect, shown by health.
  const redisRequirements = watchRedisRequirements(redis, logger);
  await redis.connect().catch((err: Error) => logger.warn({ err: err.message }, "redis not reachable yet; retrying"));
  await redisRequirements.check();

  const relay = startOutboxRelay({
    db: database.db,
    redis: redisTarget,
    prefix: env.QUEUE_PREFIX,
    logger,
    pollIntervalMs: env.RELAY_POLL_INTERVAL,
  });
  // After a revoking commit: wake the relay (the durable path, through the worker) and publish the
  // sessions straight to the feed (the fast path: other instances refuse them within milliseconds).
  // Neither is awaited, and both fail fast, so a Redis outage never fails or slows the call.
  // A role change or a lock also publishes the user's not-before the same way.
  let authRef: Auth | undefined;
  const fastPathFailed = (err: Error) =>
    logger.warn({ err: err.message }, "revocation fast path failed; the worker will publish it");
  const afterRevocation = (event: RevocationEvent, sessionIds: string[]) => {
    metrics.revoked(event, sessionIds);
    if (authRef && redis.status === "ready") {
      if (sessionIds.length > 0) {
        publishRevocations(redis, sessionIds, revocationUntil(authRef, event.at), env.QUEUE_PREFIX).catch(fastPathFailed);
      }
      const user = notBeforeOf(event);
      if (user) {
        const until = revocationUntil(authRef, user.notBefore);
        publishNotBefore(redis, user.userId, user.notBefore, until, env.QUEUE_PREFIX).catch(fastPathFailed);
      }
    }
    relay.wake();
  };

  const auth = createAuth({
    afterRevocation,
    onRefresh: metrics.refreshed,
    logger,
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
      requireVerifiedEmail: env.REQUIRE_VERIFIED_EMAIL,
      sessionCacheTtlMs: env.SESSION_CACHE_TTL,
      webhooksAllowLocal: env.WEBHOOKS_ALLOW_LOCAL,
    },
  });
  authRef = auth;
  // Before anything reads or writes users: emails stored by older versions get today's canonical form.
  await recanonicalizeEmails(auth, logger);
  // PostgreSQL is the record of every revocation: they are loaded from it at start, after the feed
  // has subscribed (nothing falls between the two), and again whenever the feed finds Redis lost
  // them — so revoked sessions are refused before any worker has rebuilt the feed.
  const loadFromDatabase = async (why: string) => {
    const loaded = await loadRevocationsFromDatabase(database.db, auth.revocations, {
      now: Date.now(),
      accessTokenTtlMs: env.ACCESS_TOKEN_TTL,
    });
    logger.info({ ...loaded, why }, "revocations loaded from PostgreSQL");
  };
  const feed = startRevocationFeed({
    redis: redisTarget,
    prefix: env.QUEUE_PREFIX,
    sink: auth.revocations,
    onError: (err) => logger.debug({ err: err.message }, "revocation feed error"),
    onIncomplete: () => {
      logger.warn("revocation feed incomplete in Redis (lost or not rebuilt yet); refusing from PostgreSQL's record meanwhile");
      loadFromDatabase("feed incomplete").catch((err: Error) =>
        logger.error({ err: err.message }, "could not load revocations from PostgreSQL"),
      );
    },
  });
  const feedLoaded = await Promise.race([
    feed.loaded().then(() => true),
    new Promise<boolean>((r) => setTimeout(() => r(false), env.FEED_READY_TIMEOUT).unref()),
  ]);
  if (!feedLoaded) logger.warn("revocation feed not loaded yet (redis down?); serving, it loads when redis answers");
  await loadFromDatabase("start");
  metrics.watch({ outboxBacklog: () => outboxBacklog(database.db), revocations: auth.revocations, feed });

  if (env.WARDEN_ADMIN_EMAIL && env.WARDEN_ADMIN_PASSWORD)
    await bootstrapAdmin(auth, logger, env.WARDEN_ADMIN_EMAIL, env.WARDEN_ADMIN_PASSWORD);

  const app = await buildServer({
    ...(options.router ? { router: options.router } : {}),
    auth,
    logger,
    corsOrigins: env.CORS_ORIGINS,
    cookieSecure: env.COOKIE_SECURE,
    bodyLimit: env.BODY_LIMIT,
    trustProxy: env.TRUST_PROXY,
    metrics,
    metricsToken: env.METRICS_TOKEN,
    logFormat: env.LOG_FORMAT,
    // RATE_LIMITS=false turns them off (load tests, a trusted network behind another limiter).
    rateLimiter: env.RATE_LIMITS
      ? createRateLimiter({
          redis,
          prefix: env.QUEUE_PREFIX,
          limits: rateLimitsFromEnv(env),
          ipv6PrefixLength: env.RATE_LIMIT_IPV6_PREFIX,
          onRefusal: metrics.rateLimited,
        })
      : undefined,
    extend: async (server) => {
      if (env.CONSOLE_DIR) await registerConsole(server, env.CONSOLE_DIR);
    },
    health: {
      db: async () => (await database.sql`select 1 as ok`).length === 1,
      redis: async () => redis.status === "ready" && (await redisAnswers(redis, env.QUEUE_PREFIX)),
      warnings: () => redisRequirements.warnings(),
    },
  });
  const address = await app.listen({ port: env.PORT, host: env.HOST });
  logger.info({ address, redis: describeRedisTarget(redisTarget) }, "warden auth server listening");

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      await app.close();
      await relay.close();
      await feed.close();
      auth.revocations.close();
      await database.close();
      redisRequirements.close();
      redis.disconnect();
    })());
  return { url: address, auth, close };
}

/**
 * WARDEN_ADMIN_*: creates the admin when the email is free. An existing account is left exactly as
 * it is, since this runs at every start: resetting it would undo an admin's lock or a password
 * change, and promoting it would hand the role to whoever signed the address up first.
 */
async function bootstrapAdmin(auth: Auth, logger: Logger, email: string, password: string): Promise<void> {
  if (await createAdmin(auth, email, password, "admin account created at start (WARDEN_ADMIN_EMAIL)")) {
    logger.info({ email }, "admin account created (WARDEN_ADMIN_EMAIL)");
    return;
  }
  logger.warn(
    { email },
    "WARDEN_ADMIN_EMAIL names an existing account: left unchanged (no promotion, unlock or password reset); to make it admin, use `warden admin create --promote-existing`",
  );
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
