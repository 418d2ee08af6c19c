import { createTestAuth, type TestAuth } from "@warden/auth/testing";
import { Redis } from "ioredis";
import {
  deleteKeys,
  email,
  ownRedis,
  PASSWORD,
  startTestServer,
  testPrefix,
  type TestServer,
  type OwnRedis,
} from "@warden/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateDataKey, generateEs256PrivateKeyPem } from "@warden/auth";
import { createTestDatabase } from "@warden/db/testing";
import { createRateLimiter, rateLimitsFromEnv, serverEnvSchema, startAuthServer } from "@warden/server";

let t: TestAuth;
let redis: Redis;
let server: TestServer;
const prefix = testPrefix();

beforeAll(async () => {
  t = await createTestAuth();
  redis = new Redis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379", { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  await new Promise((resolve) => redis.once("ready", resolve));
  server = await startTestServer(t.auth, {
    trustProxy: 1, // the test client is the proxy: each test poses as a different client IP through X-Forwarded-For
    rateLimiter: createRateLimiter({
      redis,
      prefix,
      limits: {
        login: { points: 6, durationSec: 60 },
        loginAccount: { points: 3, durationSec: 60, blockSec: 60 },
        signup: { points: 3, durationSec: 60 },
        refresh: { points: 3, durationSec: 60 },
      },
    }),
  });
});
afterAll(async () => {
  await server.close();
  await deleteKeys(redis, prefix);
  redis.disconnect();
  await t.close();
});

const from = (ip: string) => ({ "x-forwarded-for": ip });

describe("rate limits", () => {
  it("repeated wrong passwords for one account from one IP get RATE_LIMITED with retryAfterMs and Retry-After", async () => {
    const e = email();
    await server.post("/trpc/auth.signup", { email: e, password: PASSWORD }, from("10.0.0.1"));
    const reasons: string[] = [];
    let last: Awaited<ReturnType<TestServer["post"]>> | undefined;
    for (let i = 0; i < 4; i++) {
      last = await server.post("/trpc/auth.login", { email: e, password: "wrong password!" }, from("10.0.0.2"));
      reasons.push(last.body.error.data.reason);
    }
    expect(reasons).toEqual(["INVALID_CREDENTIALS", "INVALID_CREDENTIALS", "INVALID_CREDENTIALS", "RATE_LIMITED"]);
    expect(last!.status).toBe(429);
    expect(last!.body.error.data.retryAfterMs).toBeGreaterThan(0);
    expect(Number(last!.headers.get("retry-after"))).toBeGreaterThan(0);
    // Even the right password is refused from that IP while it is blocked.
    const blocked = await server.post("/trpc/auth.login", { email: e, password: PASSWORD }, from("10.0.0.2"));
    expect(blocked.body.error.data.reason).toBe("RATE_LIMITED");
  });

  it("a stranger hammering an account does not lock its owner out from another IP", async () => {
    const e = email();
    await server.post("/trpc/auth.signup", { email: e, password: PASSWORD }, from("10.0.1.1"));
    for (let i = 0; i < 5; i++)
      await server.post("/trpc/auth.login", { email: e, password: "wrong password!" }, from("10.0.1.66"));
    const owner = await server.post("/trpc/auth.login", { email: e, password: PASSWORD }, from("10.0.1.1"));
    expect(owner.status).toBe(200);
  });

  it("a successful login clears the account's failure budget", async () => {
    const e = email();
    await server.post("/trpc/auth.signup", { email: e, password: PASSWORD }, from("10.0.2.1"));
    for (let round = 0; round < 2; round++) {
      await server.post("/trpc/auth.login", { email: e, password: "wrong password!" }, from("10.0.2.2"));
      await server.post("/trpc/auth.login", { email: e, password: "wrong password!" }, from("10.0.2.2"));
      const ok = await server.post("/trpc/auth.login", { email: e, password: PASSWORD }, from("10.0.2.2"));
      expect(ok.status).toBe(200);
    }
  });

  it("one IP spraying many accounts hits the per-IP login limit", async () => {
    const reasons: string[] = [];
    for (let i = 0; i < 7; i++) {
      const res = await server.post("/trpc/auth.login", { email: email(), password: "wrong password!" }, from("10.0.3.1"));
      reasons.push(res.body.error.data.reason);
    }
    expect(reasons.slice(0, 6).every((r) => r === "INVALID_CREDENTIALS")).toBe(true);
    expect(reasons[6]).toBe("RATE_LIMITED");
  });

  it("signup and refresh are limited per IP", async () => {
    const signups: number[] = [];
    for (let i = 0; i < 4; i++)
      signups.push((await server.post("/trpc/auth.signup", { email: email(), password: PASSWORD }, from("10.0.4.1"))).status);
    expect(signups).toEqual([200, 200, 200, 429]);
    const refreshes: string[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await server.post("/trpc/auth.refresh", { refreshToken: "x".repeat(43) }, from("10.0.5.1"));
      refreshes.push(res.body.error.data.reason);
    }
    expect(refreshes).toEqual(["REFRESH_TOKEN_INVALID", "REFRESH_TOKEN_INVALID", "REFRESH_TOKEN_INVALID", "RATE_LIMITED"]);
  });

  it("keeps no email in Redis: keys hold digests only", async () => {
    const keys = await redis.keys(`${prefix}*`);
    expect(keys.length).toBeGreaterThan(0);
    expect(keys.join(" ")).not.toContain("@");
  });
});

describe("rate limits while Redis is down", () => {
  let own: OwnRedis;
  let client: Redis;
  let limited: TestServer;
  beforeAll(async () => {
    own = await ownRedis();
    client = new Redis(own.url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, retryStrategy: () => 100 });
    client.on("error", () => {});
    await new Promise((resolve) => client.once("ready", resolve));
    limited = await startTestServer(t.auth, {
      trustProxy: 1,
      rateLimiter: createRateLimiter({ redis: client, prefix, limits: { loginAccount: { points: 3, durationSec: 60 } } }),
    });
  });
  afterAll(async () => {
    await limited.close();
    client.disconnect();
    await own.stop();
  });

  it("logins keep working and the in-memory insurance limiter still enforces the budget", async () => {
    const e = email();
    await limited.post("/trpc/auth.signup", { email: e, password: PASSWORD }, from("10.1.0.1"));
    await own.stop();
    const ok = await limited.post("/trpc/auth.login", { email: e, password: PASSWORD }, from("10.1.0.1"));
    expect(ok.status).toBe(200);
    const reasons: string[] = [];
    for (let i = 0; i < 4; i++) {
      reasons.push(
        (await limited.post("/trpc/auth.login", { email: e, password: "wrong password!" }, from("10.1.0.9"))).body.error.data
          .reason,
      );
    }
    expect(reasons).toEqual(["INVALID_CREDENTIALS", "INVALID_CREDENTIALS", "INVALID_CREDENTIALS", "RATE_LIMITED"]);
  });
});

describe("rate-limit configuration", () => {
  it("RATE_LIMIT_* set budgets as attempts/window, bad values are refused, RATE_LIMITS=false turns limiting off", async () => {
    const env = serverEnvSchema.parse({ RATE_LIMIT_LOGIN: "5/30s", RATE_LIMIT_LOGIN_ACCOUNT: "3/1h" });
    expect(rateLimitsFromEnv(env)).toEqual({
      login: { points: 5, durationSec: 30 },
      loginAccount: { points: 3, durationSec: 3600, blockSec: 3600 },
    });
    expect(serverEnvSchema.safeParse({ RATE_LIMIT_SIGNUP: "lots" }).success).toBe(false);
    expect(serverEnvSchema.safeParse({ RATE_LIMIT_SIGNUP: "0/1m" }).success).toBe(false);
    expect(serverEnvSchema.parse({}).RATE_LIMITS).toBe(true);
    expect(serverEnvSchema.parse({ RATE_LIMITS: "false" }).RATE_LIMITS).toBe(false);
  });

  it("the production wiring enforces the configured budget", async () => {
    const db = await createTestDatabase();
    const server = await startAuthServer(
      serverEnvSchema.parse({
        PORT: "0",
        DATABASE_URL: db.url,
        REDIS_URL: process.env.REDIS_URL ?? "redis://127.0.0.1:6379",
        QUEUE_PREFIX: prefix,
        JWT_PRIVATE_KEY: generateEs256PrivateKeyPem(),
        WARDEN_DATA_KEY: generateDataKey(),
        LOG_LEVEL: "silent",
        RATE_LIMIT_SIGNUP: "2/1m",
      }),
    );
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) {
        const res = await fetch(`${server.url}/trpc/auth.signup`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ email: email("env"), password: PASSWORD }),
        });
        statuses.push(res.status);
      }
      expect(statuses).toEqual([200, 200, 429]);
    } finally {
      await server.close();
      await db.drop();
    }
  });
});
