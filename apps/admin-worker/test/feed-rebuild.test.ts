import { createPublicKey, randomUUID } from "node:crypto";
import { callerFor, signUp } from "@warden/api/testing";
import {
  createKeyRing,
  es256KeyFromPem,
  generateDataKey,
  generateEs256PrivateKeyPem,
  revokeSession,
  setUserRole,
  startFeedKeeper,
  type FeedCheck,
} from "@warden/auth";
import { TEST_AUDIENCE, TEST_ISSUER } from "@warden/auth/testing";
import { revocationFeedKeys } from "@warden/contracts";
import { freePort, outboxEvents } from "@warden/db";
import { createTestDatabase, type TestDatabase } from "@warden/db/testing";
import { ownRedis, type OwnRedis } from "@warden/testing";
import { createVerifier, isVerifierError, type Verifier } from "@warden/verifier";
import type { AdminWorker } from "@warden/worker";
import { isNull } from "drizzle-orm";
import { Redis } from "ioredis";
import { afterAll, beforeAll, expect, it } from "vitest";
import { AUTH_SERVER_MAIN, spawnNode, waitForHealthy, type Child } from "./processes.js";
import { quietLogger, startInstance, startWorker, testPrefix, waitFor, type Instance } from "./support.js";

/**
 * Redis is a cache of PostgreSQL's revocations: restarted empty (as `pnpm start` runs it, no
 * persistence), evicted, or behind after a failover, the feed is rebuilt from PostgreSQL, and
 * nothing started meanwhile accepts a revoked session.
 */
let redis: OwnRedis;
let database: TestDatabase;
const prefix = testPrefix();
const pem = generateEs256PrivateKeyPem();
const publicKey = createPublicKey(pem);
let a: Instance;
let worker: AdminWorker | undefined;
const verifiers: Verifier[] = [];
const children: Child[] = [];
let admin: Redis;

beforeAll(async () => {
  redis = await ownRedis();
  database = await createTestDatabase();
  a = await startInstance(database, { redisUrl: redis.url, prefix, keys: createKeyRing(es256KeyFromPem(pem)) });
  worker = await startWorker(database, { redisUrl: redis.url, prefix });
  admin = new Redis(redis.url, { maxRetriesPerRequest: null });
  admin.on("error", () => {});
}, 60_000);

afterAll(async () => {
  for (const v of verifiers) await v.close();
  for (const c of children) await c.stop();
  await worker?.close();
  await a?.close();
  admin?.disconnect();
  await redis?.stop();
  await database?.drop();
});

function verifier(): Verifier {
  const v = createVerifier({
    publicKey,
    issuer: TEST_ISSUER,
    audience: TEST_AUDIENCE,
    redisUrl: redis.url,
    queuePrefix: prefix,
    onError: () => {},
  });
  verifiers.push(v);
  return v;
}

function refusal(v: Verifier, token: string): string | undefined {
  try {
    v.verifySync(token);
    return undefined;
  } catch (error) {
    return isVerifierError(error) ? error.reason : String(error);
  }
}

async function allApplied(): Promise<void> {
  await waitFor(
    async () => (await database.db.select().from(outboxEvents).where(isNull(outboxEvents.appliedAt))).length === 0,
    30_000,
    "every event applied",
  );
}

async function startServer(): Promise<string> {
  const port = await freePort();
  const child = spawnNode(AUTH_SERVER_MAIN, {
    DATABASE_URL: database.url,
    REDIS_URL: redis.url,
    QUEUE_PREFIX: prefix,
    PORT: String(port),
    HOST: "127.0.0.1",
    JWT_PRIVATE_KEY: pem,
    JWT_ISSUER: TEST_ISSUER,
    JWT_AUDIENCE: TEST_AUDIENCE,
    WARDEN_DATA_KEY: generateDataKey(),
    LOG_LEVEL: "warn",
    RATE_LIMITS: "false",
  });
  children.push(child);
  const url = `http://127.0.0.1:${port}`;
  await waitForHealthy(url, child);
  return url;
}

/** `sessions.list` checks the token and the revocation set, and never reads the caller's session row. */
async function listSessionsReason(url: string, token: string): Promise<string | undefined> {
  const res = await fetch(`${url}/trpc/sessions.list`, { headers: { authorization: `Bearer ${token}` } });
  const body = (await res.json()) as { error?: { data?: { reason?: string } } };
  return body.error?.data?.reason;
}

it("Redis restarted empty: a verifier and an auth server started afterwards refuse revoked sessions; running ones forget nothing", async () => {
  const signup = (tag: string) =>
    signUp(a.auth, { email: `${tag}-${randomUUID()}@example.com`, password: "correct horse battery" });
  const loggedOut = await signup("out");
  await callerFor(a.auth, loggedOut.accessToken).auth.logout({});
  const revoked = await signup("revoked");
  await revokeSession(a.auth, { sessionId: revoked.sessionId, reason: "test", actor: { type: "user", id: revoked.user.id } });
  const promoted = await signup("promoted");
  await setUserRole(a.auth, { userId: promoted.user.id, role: "admin", actor: { type: "admin", id: null }, reason: "test" });
  const live = await signup("live");
  await allApplied();

  const running = verifier();
  await running.ready();
  expect(refusal(running, loggedOut.accessToken)).toBe("SESSION_REVOKED");
  expect(refusal(running, promoted.accessToken)).toBe("TOKEN_EXPIRED");

  // No worker, and Redis comes back empty.
  await worker!.close();
  worker = undefined;
  await redis.stop();
  await redis.start();
  expect(await admin.exists(...Object.values(revocationFeedKeys(prefix)))).toBe(0);

  // The running verifier reconnects, reloads an empty feed, and forgets nothing it held.
  await new Promise((r) => setTimeout(r, 1_500));
  expect(refusal(running, loggedOut.accessToken)).toBe("SESSION_REVOKED");
  expect(refusal(running, revoked.accessToken)).toBe("SESSION_REVOKED");

  // An auth server started now refuses from PostgreSQL's record, before any rebuild.
  const url = await startServer();
  expect(await listSessionsReason(url, loggedOut.accessToken)).toBe("SESSION_REVOKED");
  expect(await listSessionsReason(url, revoked.accessToken)).toBe("SESSION_REVOKED");
  expect(await listSessionsReason(url, promoted.accessToken)).toBe("TOKEN_EXPIRED");
  expect(await listSessionsReason(url, live.accessToken)).toBeUndefined();

  // A verifier started now is not ready on an incomplete feed, and says why.
  const later = verifier();
  await expect(later.ready(1_000)).rejects.toThrow(/revocation feed .* incomplete/);

  // A worker rebuilds the feed from PostgreSQL; the verifier becomes ready and refuses.
  const started = performance.now();
  worker = await startWorker(database, { redisUrl: redis.url, prefix });
  await later.ready(30_000);
  console.log(
    `revocation feed rebuilt from PostgreSQL after Redis came back empty: ready ${(performance.now() - started).toFixed(0)} ms after the worker started`,
  );
  expect(refusal(later, loggedOut.accessToken)).toBe("SESSION_REVOKED");
  expect(refusal(later, revoked.accessToken)).toBe("SESSION_REVOKED");
  expect(refusal(later, promoted.accessToken)).toBe("TOKEN_EXPIRED");
  expect(refusal(later, live.accessToken)).toBeUndefined();
}, 120_000);

it("a rebuild racing new revocations loses none, and only one rebuild runs however many processes notice", async () => {
  const users = await Promise.all(
    Array.from({ length: 40 }, (_, i) =>
      signUp(a.auth, { email: `race${i}-${randomUUID()}@example.com`, password: "correct horse battery" }),
    ),
  );
  const keepers = [1, 2, 3].map(() =>
    startFeedKeeper({
      db: database.db,
      redis: admin,
      prefix,
      accessTokenTtlMs: 15 * 60_000,
      logger: quietLogger,
      intervalMs: 3_600_000,
    }),
  );
  const outcomes: FeedCheck[] = [];
  let revoking = true;
  const revocations = (async () => {
    for (const u of users) {
      await revokeSession(a.auth, { sessionId: u.sessionId, reason: "race", actor: { type: "user", id: u.user.id } });
    }
    revoking = false;
  })();
  // Meanwhile the feed is lost again and again, and three processes notice at once each time.
  while (revoking) {
    await admin.del(...Object.values(revocationFeedKeys(prefix)));
    const round = await Promise.all(keepers.map((k) => k.check()));
    outcomes.push(...round);
    expect(round.filter((r) => r.state === "rebuilt").length).toBeLessThanOrEqual(1);
    await new Promise((r) => setTimeout(r, 20));
  }
  await revocations;
  await allApplied();
  for (const k of keepers) await k.close();
  const rebuilds = outcomes.filter((r) => r.state === "rebuilt").length;
  console.log(
    `rebuild race: ${outcomes.length} checks, ${rebuilds} rebuilds, ${outcomes.filter((r) => r.state === "busy").length} found one running`,
  );
  expect(rebuilds).toBeGreaterThan(0);

  const fresh = verifier();
  await fresh.ready(30_000);
  for (const u of users) expect(refusal(fresh, u.accessToken)).toBe("SESSION_REVOKED");
}, 120_000);

it("a feed behind PostgreSQL (a failover lost the last writes, marker included) is found and rebuilt", async () => {
  const u = await signUp(a.auth, {
    email: `behind-${randomUUID()}@example.com`,
    password: "correct horse battery",
  });
  const keys = revocationFeedKeys(prefix);
  const before = Number(await admin.zscore(keys.sessions, "#complete"));
  await revokeSession(a.auth, { sessionId: u.sessionId, reason: "failover", actor: { type: "user", id: u.user.id } });
  await allApplied();
  // The worker's own comparison would repair it too; this one shows what it finds.
  await worker!.close();
  worker = undefined;
  // What a promoted replica that missed the last writes holds: the old mark, not the session.
  await admin.zrem(keys.sessions, u.sessionId);
  await admin.zadd(keys.sessions, before, "#complete");
  await admin.zadd(keys.notBefore, before, "#complete");
  const keeper = startFeedKeeper({
    db: database.db,
    redis: admin,
    prefix,
    accessTokenTtlMs: 15 * 60_000,
    logger: quietLogger,
    intervalMs: 3_600_000,
  });
  const result = await keeper.check();
  await keeper.close();
  expect(result).toMatchObject({ state: "rebuilt", reason: "behind" });
  expect(await admin.zscore(keys.sessions, u.sessionId)).not.toBeNull();
  const fresh = verifier();
  await fresh.ready();
  expect(refusal(fresh, u.accessToken)).toBe("SESSION_REVOKED");
  // Once rebuilt, the next comparison finds it complete.
  const again = startFeedKeeper({
    db: database.db,
    redis: admin,
    prefix,
    accessTokenTtlMs: 15 * 60_000,
    logger: quietLogger,
    intervalMs: 3_600_000,
  });
  expect((await again.check()).state).toBe("complete");
  await again.close();
});
