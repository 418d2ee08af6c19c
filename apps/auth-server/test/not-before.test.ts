import { performance } from "node:perf_hooks";
import {
  generateDataKey,
  generateEs256PrivateKeyPem,
  revokeUserSessions,
  setUserRole,
  startFeedKeeper,
  type FeedKeeper,
} from "@warden/auth";
import { createTestDatabase, type TestDatabase } from "@warden/db/testing";
import { createVerifier, isVerifierError, type Verifier } from "@warden/verifier";
import { Redis } from "ioredis";
import { deleteKeys, email, PASSWORD, testPrefix } from "@warden/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serverEnvSchema, startAuthServer, type RunningServer } from "@warden/server";

/**
 * Two auth servers wired as production wires them (startAuthServer: fast-path publishing, feed,
 * relay) on one PostgreSQL and one Redis, no admin worker: a role change or a lock made on
 * instance A reaches instance B and a @warden/verifier through the revocation feed alone.
 */
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const ISSUER = "warden-not-before";
const AUDIENCE = "warden-not-before";
/** Generous: the feed delivers within milliseconds; this only bounds a broken build's failure. */
const DEADLINE_MS = 10_000;
const prefix = testPrefix();
const pem = generateEs256PrivateKeyPem();
/** Shared by both instances, as production requires. */
const dataKey = generateDataKey();
const system = { type: "system" as const, id: null };

let database: TestDatabase;
let a: RunningServer;
let b: RunningServer;
let verifier: Verifier;
let keeper: FeedKeeper;
let keeperRedis: Redis;

function serverEnv() {
  return serverEnvSchema.parse({
    PORT: "0",
    DATABASE_URL: database.url,
    REDIS_URL,
    QUEUE_PREFIX: prefix,
    JWT_PRIVATE_KEY: pem,
    WARDEN_DATA_KEY: dataKey,
    JWT_ISSUER: ISSUER,
    JWT_AUDIENCE: AUDIENCE,
    COOKIE_SECURE: "false",
    LOG_LEVEL: "silent",
    RATE_LIMITS: "false",
  });
}

beforeAll(async () => {
  database = await createTestDatabase();
  a = await startAuthServer(serverEnv());
  b = await startAuthServer(serverEnv());
  // What the admin worker runs: marks the feed complete (rebuilt from PostgreSQL).
  keeperRedis = new Redis(REDIS_URL);
  keeper = startFeedKeeper({
    db: a.auth.db,
    redis: keeperRedis,
    prefix,
    accessTokenTtlMs: a.auth.settings.accessTokenTtlMs,
    logger: { info() {}, warn() {} },
  });
  verifier = createVerifier({
    jwksUrl: `${a.url}/.well-known/jwks.json`,
    issuer: ISSUER,
    audience: AUDIENCE,
    redis: REDIS_URL,
    queuePrefix: prefix,
  });
  await verifier.ready();
  // An admin no test demotes or locks: the others are never the last unlocked one.
  await signedInAdmin();
}, 60_000);

afterAll(async () => {
  await verifier?.close();
  await keeper?.close();
  keeperRedis?.disconnect();
  await a?.close();
  await b?.close();
  const redis = new Redis(REDIS_URL);
  await deleteKeys(redis, prefix);
  redis.disconnect();
  await database?.drop();
});

async function call(base: string, method: "GET" | "POST", procedure: string, body?: unknown, token?: string) {
  const res = await fetch(`${base}/trpc/${procedure}`, {
    method,
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: method === "POST" ? JSON.stringify(body ?? {}) : undefined,
  });
  const json = (await res.json()) as any;
  return { status: res.status, reason: json.error?.data?.reason as string | undefined, data: json.result?.data };
}

const roleClaim = (token: string) => JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString()).role as string;

async function verifierReason(token: string): Promise<string> {
  try {
    await verifier.verify(token);
    return "ok";
  } catch (error) {
    return isVerifierError(error) ? error.reason : String(error);
  }
}

/** Polls until `check` gives `expected`; returns the milliseconds it took (printed, never asserted). */
async function until(check: () => Promise<string | undefined>, expected: string, what: string): Promise<number> {
  const started = performance.now();
  let last: string | undefined;
  while (performance.now() - started < DEADLINE_MS) {
    last = await check();
    if (last === expected) return performance.now() - started;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`${what}: still ${last} after ${DEADLINE_MS} ms, expected ${expected}`);
}

/** Signs up through A, makes the account an admin in the database, signs in through A. */
async function signedInAdmin() {
  const address = email("nb");
  const signup = await call(a.url, "POST", "auth.signup", { email: address, password: PASSWORD });
  const userId = signup.data.user.id as string;
  await database.sql`update users set role = 'admin' where id = ${userId}`;
  const login = await call(a.url, "POST", "auth.login", { email: address, password: PASSWORD });
  expect(login.status).toBe(200);
  expect(roleClaim(login.data.accessToken)).toBe("admin");
  return { userId, accessToken: login.data.accessToken as string, refreshToken: login.data.refreshToken as string };
}

describe("per-user not-before", () => {
  it("a demotion on instance A: B refuses the old admin token with TOKEN_EXPIRED though it cached auth.me for it, and the renewed token says user", async () => {
    const admin = await signedInAdmin();
    // B has answered auth.me for this token: its session row (role admin) is cached there.
    const before = await call(b.url, "GET", "auth.me", undefined, admin.accessToken);
    expect(before.status).toBe(200);
    expect(before.data.user.role).toBe("admin");

    await setUserRole(a.auth, { userId: admin.userId, role: "user", reason: "demoted", actor: system });

    const elapsed = await until(
      async () => (await call(b.url, "GET", "auth.me", undefined, admin.accessToken)).reason,
      "TOKEN_EXPIRED",
      "B refuses the old token",
    );
    console.log(`demotion on A -> old token refused by B after ${elapsed.toFixed(1)} ms (polling)`);

    const renewed = await call(b.url, "POST", "auth.refresh", { refreshToken: admin.refreshToken });
    expect(renewed.status).toBe(200);
    expect(roleClaim(renewed.data.accessToken)).toBe("user");
    const me = await call(b.url, "GET", "auth.me", undefined, renewed.data.accessToken);
    expect(me.status).toBe(200);
    expect(me.data.user.role).toBe("user");
    expect((await call(a.url, "GET", "auth.me", undefined, renewed.data.accessToken)).status).toBe(200);
    // The old token stays refused on both instances, and the renewed one is no admin anywhere.
    expect((await call(a.url, "GET", "auth.me", undefined, admin.accessToken)).reason).toBe("TOKEN_EXPIRED");
    expect((await call(b.url, "GET", "auth.me", undefined, admin.accessToken)).reason).toBe("TOKEN_EXPIRED");
    expect((await call(b.url, "GET", "admin.audit", { limit: 1 }, renewed.data.accessToken)).reason).toBe("FORBIDDEN");

    const [row] =
      await database.sql`select role, tokens_not_before is not null as has_not_before from users where id = ${admin.userId}`;
    expect(row).toMatchObject({ role: "user", has_not_before: true });
  });

  it("a demotion on instance A: a @warden/verifier on the same feed refuses the old token with TOKEN_EXPIRED and accepts the renewed one", async () => {
    const admin = await signedInAdmin();
    // The verdict is cached by the token string: the cache must not outlive the demotion.
    expect((await verifier.verify(admin.accessToken)).role).toBe("admin");

    await setUserRole(a.auth, { userId: admin.userId, role: "user", reason: "demoted", actor: system });

    const elapsed = await until(() => verifierReason(admin.accessToken), "TOKEN_EXPIRED", "the verifier refuses the old token");
    console.log(`demotion on A -> old token refused by the verifier after ${elapsed.toFixed(1)} ms (polling)`);
    const renewed = await call(a.url, "POST", "auth.refresh", { refreshToken: admin.refreshToken });
    expect(renewed.status).toBe(200);
    const principal = await verifier.verify(renewed.data.accessToken);
    expect(principal).toMatchObject({ userId: admin.userId, role: "user" });
  });

  it("a lock on instance A: B and a verifier refuse the old token, and its renewal fails", async () => {
    const user = await signedInAdmin();
    expect((await call(b.url, "GET", "auth.me", undefined, user.accessToken)).status).toBe(200);
    expect((await verifier.verify(user.accessToken)).userId).toBe(user.userId);

    await revokeUserSessions(a.auth, { userId: user.userId, reason: "compromised", actor: system, lock: true });

    // The sessions are revoked too, and revocation is checked first: SESSION_REVOKED.
    await until(
      async () => (await call(b.url, "GET", "auth.me", undefined, user.accessToken)).reason,
      "SESSION_REVOKED",
      "B refuses the locked user's token",
    );
    await until(() => verifierReason(user.accessToken), "SESSION_REVOKED", "the verifier refuses the locked user's token");
    const renewal = await call(b.url, "POST", "auth.refresh", { refreshToken: user.refreshToken });
    expect(renewal.status).toBe(401);
    expect(["REFRESH_TOKEN_REVOKED", "ACCOUNT_LOCKED"]).toContain(renewal.reason);
    const [row] =
      await database.sql`select locked_at is not null as locked, tokens_not_before = locked_at as not_before_set from users where id = ${user.userId}`;
    expect(row).toMatchObject({ locked: true, not_before_set: true });
  });
});
