import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { generateDataKey, generateEs256PrivateKeyPem } from "@warden/auth";
import { createDb, freePort, startEmbeddedPostgres, type DbHandle, type EmbeddedDatabase } from "@warden/db";
import { createTestDatabase, type TestDatabase } from "@warden/db/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { envSchema } from "../src/env.js";
import { startAuthServer, type RunningServer } from "../src/main.js";
import { email, ownRedis, PASSWORD, testPrefix, type OwnRedis } from "./helpers.js";

/** The production wiring (`startAuthServer`), against dependencies this file can stop. */
function serverEnv(databaseUrl: string, redisUrl: string) {
  return envSchema.parse({
    PORT: "0",
    DATABASE_URL: databaseUrl,
    REDIS_URL: redisUrl,
    QUEUE_PREFIX: testPrefix(),
    JWT_PRIVATE_KEY: generateEs256PrivateKeyPem(),
    WARDEN_DATA_KEY: generateDataKey(),
    COOKIE_SECURE: "false",
    LOG_LEVEL: "silent",
  });
}

async function call(base: string, method: "GET" | "POST", procedure: string, body?: unknown, token?: string) {
  const res = await fetch(`${base}/trpc/${procedure}`, {
    method,
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: method === "POST" ? JSON.stringify(body ?? {}) : undefined,
  });
  const json = (await res.json()) as any;
  return { status: res.status, reason: json.error?.data?.reason as string | undefined, data: json.result?.data };
}

describe("PostgreSQL down", () => {
  let dir: string;
  let port: number;
  let pg: EmbeddedDatabase;
  let server: RunningServer;
  let inspect: DbHandle;
  const start = () => startEmbeddedPostgres({ dataDir: path.join(dir, "data"), port, persistent: true });

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "warden-pg-outage-"));
    port = await freePort();
    pg = await start();
    const redis = await ownRedis();
    server = await startAuthServer(serverEnv(pg.url, redis.url));
    inspect = createDb(pg.url, { max: 1 });
    return async () => {
      await redis.stop();
    };
  }, 120_000);
  afterAll(async () => {
    await server?.close();
    await inspect?.close().catch(() => {});
    await pg?.stop().catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it("refresh, login and me answer UNAVAILABLE (503) while it is stopped; after restart nothing is half rotated", async () => {
    const pairs = [];
    for (let i = 0; i < 4; i++) pairs.push((await call(server.url, "POST", "auth.signup", { email: email("pg"), password: PASSWORD })).data);
    const victim = pairs[0];

    // Refreshes in flight when PostgreSQL stops, and more after it is down.
    const inFlight = pairs.slice(1).map((p) => call(server.url, "POST", "auth.refresh", { refreshToken: p.refreshToken }));
    await pg.stop();
    const during = await Promise.all(inFlight);
    for (const r of during) expect([200, 503]).toContain(r.status);

    const refresh = await call(server.url, "POST", "auth.refresh", { refreshToken: victim.refreshToken });
    expect(refresh).toMatchObject({ status: 503, reason: "UNAVAILABLE" });
    expect(await call(server.url, "POST", "auth.login", { email: "x@example.com", password: PASSWORD })).toMatchObject({ status: 503, reason: "UNAVAILABLE" });
    expect(await call(server.url, "GET", "auth.me", undefined, victim.accessToken)).toMatchObject({ status: 503, reason: "UNAVAILABLE" });
    const health = await call(server.url, "GET", "health");
    expect(health.data).toMatchObject({ ok: false, db: "down" });

    pg = await start();
    // No half rotation: each token rotated at most once, and a rotated token has exactly one successor.
    const rows = await inspect.sql<{ id: string; parent_id: string | null; rotated_at: Date | null }[]>`select id, parent_id, rotated_at from refresh_tokens`;
    for (const row of rows.filter((r) => r.rotated_at)) expect(rows.filter((r) => r.parent_id === row.id)).toHaveLength(1);
    for (const row of rows.filter((r) => !r.rotated_at)) expect(rows.filter((r) => r.parent_id === row.id)).toHaveLength(0);

    // The victim's token was never rotated: it still works. Refreshes that failed during the
    // outage can be retried (a lost success is covered by the reuse grace window).
    const retry = await call(server.url, "POST", "auth.refresh", { refreshToken: victim.refreshToken });
    expect(retry.status).toBe(200);
    for (const p of pairs.slice(1)) expect((await call(server.url, "POST", "auth.refresh", { refreshToken: p.refreshToken })).status).toBe(200);
    const live = await inspect.sql`select id from refresh_tokens where rotated_at is null`;
    expect(live).toHaveLength(4);
    const revoked = await inspect.sql`select id from sessions where revoked_at is not null`;
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
    expect((await call(server.url, "POST", "auth.refresh", { refreshToken: refreshed.data.refreshToken })).reason).toBe("REFRESH_TOKEN_REVOKED");
    const [event] = await database.sql`select id, type, published_at from outbox_events where payload->>'sessionId' = ${refreshed.data.sessionId}`;
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
