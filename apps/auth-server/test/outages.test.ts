import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { generateDataKey, generateEs256PrivateKeyPem } from "@warden/auth";
import { createDb, freePort, startEmbeddedPostgres, type DbHandle, type EmbeddedDatabase } from "@warden/db";
import { createTestDatabase, type TestDatabase } from "@warden/db/testing";
import { publishRevocations } from "@warden/revocations";
import { Redis } from "ioredis";
import { email, ownRedis, PASSWORD, testPrefix, type OwnRedis } from "@warden/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serverEnvSchema, startAuthServer, type RunningServer } from "@warden/server";

/** The production wiring (`startAuthServer`), against dependencies this file can stop. */
function serverEnv(databaseUrl: string, redisUrl: string, extra: Record<string, string> = {}) {
  return serverEnvSchema.parse({
    PORT: "0",
    DATABASE_URL: databaseUrl,
    REDIS_URL: redisUrl,
    QUEUE_PREFIX: testPrefix(),
    JWT_PRIVATE_KEY: generateEs256PrivateKeyPem(),
    WARDEN_DATA_KEY: generateDataKey(),
    COOKIE_SECURE: "false",
    LOG_LEVEL: "silent",
    ...extra,
  });
}

/** SESSION_CACHE_TTL of the server under test: short, so the test sees it run out. */
const SESSION_CACHE_TTL_MS = 5_000;
const sha256Hex = (token: string) => createHash("sha256").update(token).digest("hex");

async function call(base: string, method: "GET" | "POST", procedure: string, body?: unknown, token?: string) {
  const res = await fetch(`${base}/trpc/${procedure}`, {
    method,
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: method === "POST" ? JSON.stringify(body ?? {}) : undefined,
  });
  const json = (await res.json()) as any;
  return { status: res.status, reason: json.error?.data?.reason as string | undefined, data: json.result?.data };
}

/** One refresh of a loop: the token presented, when, and what came back. */
interface Attempt {
  token: string;
  sentAt: number;
  answeredAt: number;
  status: number;
  reason: string | undefined;
  next: string | undefined;
}

describe("PostgreSQL down", () => {
  let dir: string;
  let port: number;
  let pg: EmbeddedDatabase;
  let redis: OwnRedis;
  let publisher: Redis;
  let server: RunningServer;
  let inspect: DbHandle;
  const prefix = testPrefix();
  const start = () => startEmbeddedPostgres({ dataDir: path.join(dir, "data"), port, persistent: true });
  const signup = async (tag: string) =>
    (await call(server.url, "POST", "auth.signup", { email: email(tag), password: PASSWORD })).data;
  const me = (accessToken: string) => call(server.url, "GET", "auth.me", undefined, accessToken);

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "warden-pg-outage-"));
    port = await freePort();
    pg = await start();
    redis = await ownRedis();
    publisher = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    // Retries after the restart must fall inside the reuse grace however slow the restart is, and
    // the back-to-back refreshes below would spend the per-IP refresh budget.
    server = await startAuthServer(
      serverEnv(pg.url, redis.url, {
        QUEUE_PREFIX: prefix,
        REFRESH_REUSE_GRACE: "2m",
        RATE_LIMITS: "false",
        SESSION_CACHE_TTL: `${SESSION_CACHE_TTL_MS}ms`,
      }),
    );
    inspect = createDb(pg.url, { max: 1 });
  }, 120_000);
  afterAll(async () => {
    await server?.close();
    publisher?.disconnect();
    await redis?.stop();
    await inspect?.close().catch(() => {});
    await pg?.stop().catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it("auth.me: a session read within SESSION_CACHE_TTL answers from memory and revocations still refuse it; an unseen one, or past the TTL, answers UNAVAILABLE (503)", async () => {
    const [seen, revokedHere, revokedElsewhere, unseen] = [
      await signup("seen"),
      await signup("revoked-here"),
      await signup("revoked-elsewhere"),
      await signup("unseen"),
    ];
    // Revoked through this instance: its revocation set refuses the session from now on.
    expect((await call(server.url, "POST", "auth.logout", {}, revokedHere.accessToken)).status).toBe(200);
    // Revoked by another instance (committed there); this one still holds the row it read before.
    expect((await me(revokedElsewhere.accessToken)).status).toBe(200);
    await inspect.sql`update sessions set revoked_at = now(), revoked_reason = 'elsewhere' where id = ${revokedElsewhere.sessionId}`;

    const readAt = Date.now();
    expect((await me(seen.accessToken)).status).toBe(200);
    await pg.stop();
    const stoppedAfterMs = Date.now() - readAt;
    console.log(
      `PostgreSQL stopped ${stoppedAfterMs} ms after the last read of the seen session (cache TTL ${SESSION_CACHE_TTL_MS} ms)`,
    );
    expect(stoppedAfterMs, "PostgreSQL took longer than the cache TTL to stop").toBeLessThan(SESSION_CACHE_TTL_MS);

    // Within the TTL: from memory.
    const fromMemory = await me(seen.accessToken);
    expect(fromMemory).toMatchObject({ status: 200, data: { session: { id: seen.sessionId } } });
    expect(await me(revokedHere.accessToken)).toMatchObject({ status: 401, reason: "SESSION_REVOKED" });
    // The other instance's revocation reaches this one through the feed during the outage.
    expect((await me(revokedElsewhere.accessToken)).status).toBe(200);
    await publishRevocations(publisher, [revokedElsewhere.sessionId], Date.now() + 16 * 60_000, prefix); // past the 15 min token
    let elsewhere = await me(revokedElsewhere.accessToken);
    for (let i = 0; i < 100 && elsewhere.status === 200; i++) {
      await new Promise((r) => setTimeout(r, 10));
      elsewhere = await me(revokedElsewhere.accessToken);
    }
    expect(elsewhere).toMatchObject({ status: 401, reason: "SESSION_REVOKED" });
    // Never read: nothing in memory, so it fails closed.
    expect(await me(unseen.accessToken)).toMatchObject({ status: 503, reason: "UNAVAILABLE" });

    // Past the TTL the row is gone from memory: fail closed too.
    await new Promise((r) => setTimeout(r, Math.max(0, readAt + SESSION_CACHE_TTL_MS + 100 - Date.now())));
    expect(await me(seen.accessToken)).toMatchObject({ status: 503, reason: "UNAVAILABLE" });

    pg = await start();
    expect((await me(seen.accessToken)).status).toBe(200);
    expect(await me(unseen.accessToken)).toMatchObject({ status: 200 });
    expect(await me(revokedElsewhere.accessToken)).toMatchObject({ status: 401, reason: "SESSION_REVOKED" });
  }, 120_000);

  it("refresh, login and me answer UNAVAILABLE (503) while it is stopped; the refreshes in flight are each rotated exactly once or untouched, never half rotated", async () => {
    const victim = await signup("pg");
    const LOOPS = 6;
    const loopers = [];
    for (let i = 0; i < LOOPS; i++) loopers.push(await signup("pg-loop"));

    // Each loop refreshes its session back to back until an answer is not a success, so some
    // refreshes are in flight whenever PostgreSQL stops.
    const histories: Attempt[][] = loopers.map(() => []);
    let stopping = false;
    const loops = loopers.map(async (pair, i) => {
      let token = pair.refreshToken as string;
      for (;;) {
        const sentAt = Date.now();
        const res = await call(server.url, "POST", "auth.refresh", { refreshToken: token });
        histories[i]!.push({
          token,
          sentAt,
          answeredAt: Date.now(),
          status: res.status,
          reason: res.reason,
          next: res.data?.refreshToken,
        });
        if (res.status !== 200) return;
        token = res.data.refreshToken;
        if (stopping) await new Promise((r) => setTimeout(r, 1));
      }
    });
    const running = Date.now() + 30_000;
    while (histories.some((h) => h.filter((a) => a.status === 200).length < 2)) {
      if (Date.now() > running || histories.some((h) => h.at(-1) && h.at(-1)!.status !== 200))
        throw new Error(`refresh loops not running: ${JSON.stringify(histories.map((h) => h.at(-1)?.status))}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    const stopBegan = Date.now();
    stopping = true;
    await pg.stop();
    const stopEnded = Date.now();
    await Promise.all(loops);

    const inFlight = histories.flatMap((h, i) =>
      h.filter((a) => a.sentAt <= stopBegan && a.answeredAt >= stopBegan).map((a) => ({ loop: i, ...a })),
    );
    const last = histories.map((h) => h.at(-1)!);
    console.log(
      [
        `refreshes in flight when PostgreSQL stopped (stop took ${stopEnded - stopBegan} ms): ${inFlight.length} of ${LOOPS} loops`,
        ...inFlight.map(
          (a) =>
            `  loop ${a.loop}: sent ${stopBegan - a.sentAt} ms before the stop, answered ${a.status}${a.reason ? ` ${a.reason}` : ""} ${a.answeredAt - stopBegan} ms after`,
        ),
        `  rotations per loop before the outage: ${histories.map((h) => h.filter((a) => a.status === 200).length).join(", ")}`,
      ].join("\n"),
    );
    expect(inFlight.length).toBeGreaterThan(0);
    // Every loop ended on a refresh that failed closed, never a 500.
    for (const attempt of last) expect(attempt).toMatchObject({ status: 503, reason: "UNAVAILABLE" });

    expect(await call(server.url, "POST", "auth.refresh", { refreshToken: victim.refreshToken })).toMatchObject({
      status: 503,
      reason: "UNAVAILABLE",
    });
    expect(await call(server.url, "POST", "auth.login", { email: "x@example.com", password: PASSWORD })).toMatchObject({
      status: 503,
      reason: "UNAVAILABLE",
    });
    expect(await me(victim.accessToken)).toMatchObject({ status: 503, reason: "UNAVAILABLE" });
    expect((await call(server.url, "GET", "health")).data).toMatchObject({ ok: false, db: "down" });

    pg = await start();
    const sessionIds = [victim, ...loopers].map((p) => p.sessionId as string);
    const rows = await inspect.sql<
      { id: string; session_id: string; token_hash: string; parent_id: string | null; rotated_at: Date | null }[]
    >`
      select id, session_id, token_hash, parent_id, rotated_at from refresh_tokens where session_id in ${inspect.sql(sessionIds)}`;
    // No half rotation: a rotated token has exactly one successor, an unrotated one none, and each
    // session has exactly one live token.
    for (const row of rows.filter((r) => r.rotated_at)) expect(rows.filter((r) => r.parent_id === row.id)).toHaveLength(1);
    for (const row of rows.filter((r) => !r.rotated_at)) expect(rows.filter((r) => r.parent_id === row.id)).toHaveLength(0);
    for (const id of sessionIds) expect(rows.filter((r) => r.session_id === id && !r.rotated_at)).toHaveLength(1);
    // Each success answered before the stop is in the database as the token it returned.
    const hashes = new Set(rows.map((r) => r.token_hash));
    for (const attempt of histories.flat().filter((a) => a.status === 200))
      expect(hashes.has(sha256Hex(attempt.next!))).toBe(true);
    // The refresh each loop lost: either rolled back (its token untouched) or committed with its
    // answer lost (rotated, one successor); both are whole.
    const fates = last.map((a) =>
      rows.find((r) => r.token_hash === sha256Hex(a.token))!.rotated_at ? "committed, answer lost" : "rolled back",
    );
    console.log(`  the refresh each loop lost: ${fates.join(", ")}`);

    // Retrying the lost refresh works either way (a committed one is replayed within the grace).
    expect((await call(server.url, "POST", "auth.refresh", { refreshToken: victim.refreshToken })).status).toBe(200);
    for (const attempt of last)
      expect((await call(server.url, "POST", "auth.refresh", { refreshToken: attempt.token })).status).toBe(200);
    const revoked = await inspect.sql`select id from sessions where revoked_at is not null and id in ${inspect.sql(sessionIds)}`;
    expect(revoked).toHaveLength(0);
    expect((await call(server.url, "GET", "health")).data).toMatchObject({ db: "up" });
  }, 120_000);
});

describe("Redis down", () => {
  let database: TestDatabase;
  let redis: OwnRedis;
  let server: RunningServer;

  beforeAll(async () => {
    database = await createTestDatabase();
    redis = await ownRedis();
    server = await startAuthServer(serverEnv(database.url, redis.url));
  }, 60_000);
  afterAll(async () => {
    await server?.close();
    await redis?.stop();
    await database?.drop();
  });

  it("signup, login, refresh, me and logout keep working; health says redis is down; revocations are recorded and published once it is back", async () => {
    const e = email("redis");
    await call(server.url, "POST", "auth.signup", { email: e, password: PASSWORD });
    await redis.stop();
    const login = await call(server.url, "POST", "auth.login", { email: e, password: PASSWORD });
    expect(login.status).toBe(200);
    const other = await call(server.url, "POST", "auth.signup", { email: email("redis"), password: PASSWORD });
    expect(other.status).toBe(200);
    const refreshed = await call(server.url, "POST", "auth.refresh", { refreshToken: login.data.refreshToken });
    expect(refreshed.status).toBe(200);
    expect((await call(server.url, "GET", "auth.me", undefined, refreshed.data.accessToken)).status).toBe(200);
    expect((await call(server.url, "GET", "health")).data).toMatchObject({ ok: false, db: "up", redis: "down" });

    // A revocation while Redis is down commits with its outbox event; its effect is immediate here.
    expect((await call(server.url, "POST", "auth.logout", {}, refreshed.data.accessToken)).status).toBe(200);
    expect((await call(server.url, "GET", "auth.me", undefined, refreshed.data.accessToken)).reason).toBe("SESSION_REVOKED");
    expect((await call(server.url, "POST", "auth.refresh", { refreshToken: refreshed.data.refreshToken })).reason).toBe(
      "REFRESH_TOKEN_REVOKED",
    );
    const [event] =
      await database.sql`select id, type, published_at from outbox_events where payload->>'sessionId' = ${refreshed.data.sessionId}`;
    expect(event).toMatchObject({ type: "session.revoked", published_at: null });

    await redis.start();
    expect((await call(server.url, "POST", "auth.login", { email: e, password: PASSWORD })).status).toBe(200);
    // Once Redis is back, the outbox relay publishes the event recorded during the outage.
    const deadline = Date.now() + 30_000;
    let published: unknown = null;
    while (!published && Date.now() < deadline) {
      const [row] = await database.sql`select published_at from outbox_events where id = ${event!.id}`;
      published = row?.published_at;
      if (!published) await new Promise((r) => setTimeout(r, 100));
    }
    expect(published).toBeTruthy();
  }, 60_000);
});
