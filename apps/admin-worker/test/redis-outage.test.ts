import { callerFor, reasonOf, signUp } from "@warden/api/testing";
import { revokeSession, revokeUserSessions } from "@warden/auth";
import { createTestKeyRing } from "@warden/auth/testing";
import { auditLog, outboxEvents, sessions } from "@warden/db";
import { freePort } from "@warden/db";
import { createTestDatabase, type TestDatabase } from "@warden/db/testing";
import { eq, inArray } from "drizzle-orm";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { AdminWorker } from "@warden/worker";
import { generateDataKey, generateEs256PrivateKeyPem } from "@warden/auth";
import { AUTH_SERVER_MAIN, spawnNode, waitForHealthy, type Child } from "./processes.js";
import { ownRedis, type OwnRedis } from "@warden/testing";
import { startInstance, startWorker, testPrefix, waitFor, type Instance } from "./support.js";

/** A Redis of this test's own, stopped and started again while revocations happen. */
let redis: OwnRedis;
let redisUrl: string;
const prefix = testPrefix();
let database: TestDatabase;
let a: Instance;
let b: Instance;
let worker: AdminWorker;
/** A real auth-server process on the same Redis: its revoking HTTP calls must not notice the outage. */
let serverProcess: Child;
let serverUrl: string;

beforeAll(async () => {
  redis = await ownRedis();
  redisUrl = redis.url;
  database = await createTestDatabase();
  const keys = createTestKeyRing();
  a = await startInstance(database, { redisUrl, prefix, keys });
  b = await startInstance(database, { redisUrl, prefix, keys });
  worker = await startWorker(database, { redisUrl, prefix });
  await Promise.all([a.feed.ready(), b.feed.ready()]);
  const serverPort = await freePort();
  serverUrl = `http://127.0.0.1:${serverPort}`;
  serverProcess = spawnNode(AUTH_SERVER_MAIN, {
    DATABASE_URL: database.url,
    REDIS_URL: redisUrl,
    QUEUE_PREFIX: prefix,
    PORT: String(serverPort),
    HOST: "127.0.0.1",
    JWT_PRIVATE_KEY: generateEs256PrivateKeyPem(),
    WARDEN_DATA_KEY: generateDataKey(),
    LOG_LEVEL: "warn",
    RATE_LIMITS: "false",
    RELAY_POLL_INTERVAL: "200ms",
  });
  await waitForHealthy(serverUrl, serverProcess);
}, 60_000);

async function post(path: string, body: unknown, token?: string) {
  const res = await fetch(`${serverUrl}/trpc/${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any };
}

afterAll(async () => {
  await serverProcess?.stop();
  await worker?.close();
  await a?.close();
  await b?.close();
  await redis.stop();
  await database?.drop();
});

it("revocations made while Redis is down are recorded, nothing is lost, and they are applied once it is back", async () => {
  const password = "correct horse battery";
  const users = await Promise.all([1, 2, 3, 4].map((i) => signUp(a.auth, { email: `outage${i}@example.com`, password })));
  const overHttp = (await post("auth.signup", { email: "outage-http@example.com", password })).body.result.data;
  await redis.stop();

  // Through a real server: the revoking call answers as usual, health says redis is down.
  const revokedOverHttp = await post("sessions.revoke", { sessionId: overHttp.sessionId }, overHttp.accessToken);
  expect(revokedOverHttp.status).toBe(200);
  expect((await post("auth.refresh", { refreshToken: overHttp.refreshToken })).body.error.data.reason).toBe(
    "REFRESH_TOKEN_REVOKED",
  );
  const health = await fetch(`${serverUrl}/trpc/health`);
  expect(((await health.json()) as any).result.data).toMatchObject({ ok: false, db: "up", redis: "down" });

  // While Redis is down: every revoking call still succeeds and takes effect for refreshes at once.
  const eventIds: string[] = [];
  for (const u of users.slice(0, 2)) {
    const { eventId } = await revokeSession(a.auth, {
      sessionId: u.sessionId,
      reason: "outage",
      actor: { type: "user", id: u.user.id },
    });
    eventIds.push(eventId!);
  }
  for (const u of users.slice(2)) {
    const { eventId } = await revokeUserSessions(a.auth, {
      userId: u.user.id,
      reason: "outage",
      actor: { type: "admin", id: null },
    });
    eventIds.push(eventId);
  }
  for (const u of users) {
    expect(await reasonOf(callerFor(b.auth).auth.refresh({ refreshToken: u.refreshToken }))).toBe("REFRESH_TOKEN_REVOKED");
  }
  const [httpEvent] = await database.db
    .select({ id: sessions.revokedEventId })
    .from(sessions)
    .where(eq(sessions.id, overHttp.sessionId));
  eventIds.push(httpEvent!.id!);
  await a.relay.drain(); // a round while Redis is down fails and leaves the events where they are
  // The failed rounds are visible on the rows (another relay may hold them a moment: wait for it).
  const recorded = await waitFor(
    async () => {
      const rows = await database.db.select().from(outboxEvents).where(inArray(outboxEvents.id, eventIds));
      return rows.some((r) => r.lastError !== null) && rows;
    },
    5_000,
    "publish failures recorded",
  );
  expect(recorded).toHaveLength(5);
  expect(recorded.every((r) => r.publishedAt === null && r.appliedAt === null)).toBe(true);

  // Redis comes back empty (no persistence): the relay publishes from the outbox again.
  await redis.start();
  await waitFor(
    async () => {
      const rows = await database.db
        .select({ appliedAt: outboxEvents.appliedAt })
        .from(outboxEvents)
        .where(inArray(outboxEvents.id, eventIds));
      return rows.every((r) => r.appliedAt !== null);
    },
    30_000,
    "every event applied after Redis is back",
  );
  expect(await database.db.select().from(auditLog).where(inArray(auditLog.eventId, eventIds))).toHaveLength(5);
  // The feed, resynchronised after the reconnect, reaches instance B too.
  for (const u of users) {
    await waitFor(
      async () => (await reasonOf(callerFor(b.auth, u.accessToken).sessions.list())) === "SESSION_REVOKED",
      5_000,
      "B refuses",
    );
  }
});
