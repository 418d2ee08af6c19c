import http from "node:http";
import { generateDataKey, generateEs256PrivateKeyPem } from "@warden/auth";
import { createTestDatabase, type TestDatabase } from "@warden/db/testing";
import { Redis } from "ioredis";
import { deleteKeys, email, PASSWORD, testPrefix } from "@warden/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_RATE_LIMITS, rateLimitsFromEnv, serverEnvSchema, startAuthServer, type RunningServer } from "@warden/server";

/**
 * The budgets a deployment gets when it sets no RATE_LIMIT_*: the production wiring
 * (`startAuthServer`), with each scenario coming from a loopback address of its own
 * (127.0.0.0/8 is all loopback on Linux), so no proxy header is involved.
 */
const prefix = testPrefix();
const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
let database: TestDatabase;
let server: RunningServer;
let port: number;

beforeAll(async () => {
  database = await createTestDatabase();
  const env = serverEnvSchema.parse({
    PORT: "0",
    DATABASE_URL: database.url,
    REDIS_URL: redisUrl,
    QUEUE_PREFIX: prefix,
    JWT_PRIVATE_KEY: generateEs256PrivateKeyPem(),
    WARDEN_DATA_KEY: generateDataKey(),
    LOG_LEVEL: "silent",
  });
  expect(rateLimitsFromEnv(env)).toEqual({});
  server = await startAuthServer(env);
  port = Number(new URL(server.url).port);
}, 60_000);
afterAll(async () => {
  await server?.close();
  const redis = new Redis(redisUrl);
  await deleteKeys(redis, prefix);
  redis.disconnect();
  await database?.drop();
});

interface Answer {
  status: number;
  reason: string | undefined;
  retryAfterMs: number | undefined;
  message: string | undefined;
}

/** POST a mutation from a chosen loopback source address. */
function post(from: string, procedure: string, body: unknown): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const payload = JSON.stringify(body);
    const req = http.request(
      {
        host: "127.0.0.1",
        port,
        localAddress: from,
        method: "POST",
        path: `/trpc/${procedure}`,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(payload) },
        agent: false,
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (text += chunk));
        res.on("end", () => {
          const error = JSON.parse(text).error;
          resolve({
            status: res.statusCode ?? 0,
            reason: error?.data?.reason,
            retryAfterMs: error?.data?.retryAfterMs,
            message: error?.message,
          });
        });
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

async function repeat(times: number, call: (i: number) => Promise<Answer>): Promise<Answer[]> {
  const answers: Answer[] = [];
  for (let i = 0; i < times; i++) answers.push(await call(i));
  return answers;
}

const reasons = (answers: Answer[]) => answers.map((a) => a.reason ?? String(a.status));
const SECOND = 1000;

describe("default rate limits, no RATE_LIMIT_* set", () => {
  it("signup: 10 per hour per IP, the 11th is refused for about an hour", async () => {
    const { points, durationSec } = DEFAULT_RATE_LIMITS.signup;
    expect({ points, durationSec }).toEqual({ points: 10, durationSec: 3600 });
    const answers = await repeat(points, () =>
      post("127.0.0.11", "auth.signup", { email: email("defaults"), password: PASSWORD }),
    );
    expect(answers.map((a) => a.status)).toEqual(Array(points).fill(200));
    const refused = await post("127.0.0.11", "auth.signup", { email: email("defaults"), password: PASSWORD });
    expect(refused).toMatchObject({ status: 429, reason: "RATE_LIMITED" });
    expect(refused.retryAfterMs).toBeGreaterThan((durationSec - 60) * SECOND);
    expect(refused.retryAfterMs).toBeLessThanOrEqual(durationSec * SECOND);
    // Which limit, the setting that changes it, and when to come back.
    expect(refused.message).toBe(
      "too many sign-ups from this address: the limit is 10/1h (RATE_LIMIT_SIGNUP=<attempts>/<window> on the server changes it); try again in 60 min",
    );
    // Another address is not affected.
    expect((await post("127.0.0.12", "auth.signup", { email: email("defaults"), password: PASSWORD })).status).toBe(200);
  });

  it("login per account and IP: 10 wrong passwords, then RATE_LIMITED for 15 minutes, the right password too; the owner elsewhere is not locked out", async () => {
    const { points, blockSec } = DEFAULT_RATE_LIMITS.loginAccount;
    expect({ points, blockSec }).toEqual({ points: 10, blockSec: 900 });
    const account = email("defaults-account");
    expect((await post("127.0.0.21", "auth.signup", { email: account, password: PASSWORD })).status).toBe(200);
    const wrong = await repeat(points, () => post("127.0.0.22", "auth.login", { email: account, password: "wrong password!" }));
    expect(reasons(wrong)).toEqual(Array(points).fill("INVALID_CREDENTIALS"));
    const refused = await post("127.0.0.22", "auth.login", { email: account, password: PASSWORD });
    expect(refused).toMatchObject({ status: 429, reason: "RATE_LIMITED" });
    expect(refused.retryAfterMs).toBeGreaterThan((blockSec! - 60) * SECOND);
    expect(refused.retryAfterMs).toBeLessThanOrEqual(blockSec! * SECOND);
    expect(refused.message).toBe(
      "too many login attempts for this account from this address: the limit is 10/15m (RATE_LIMIT_LOGIN_ACCOUNT=<attempts>/<window> on the server changes it); try again in 15 min",
    );
    expect((await post("127.0.0.21", "auth.login", { email: account, password: PASSWORD })).status).toBe(200);
  });

  it("login per IP: 30 attempts a minute on any accounts, the 31st is refused", async () => {
    const { points, durationSec } = DEFAULT_RATE_LIMITS.login;
    expect({ points, durationSec }).toEqual({ points: 30, durationSec: 60 });
    const sprayed = await repeat(points, () =>
      post("127.0.0.31", "auth.login", { email: email("sprayed"), password: "wrong password!" }),
    );
    expect(reasons(sprayed)).toEqual(Array(points).fill("INVALID_CREDENTIALS"));
    const refused = await post("127.0.0.31", "auth.login", { email: email("sprayed"), password: "wrong password!" });
    expect(refused).toMatchObject({ status: 429, reason: "RATE_LIMITED" });
    expect(refused.retryAfterMs).toBeLessThanOrEqual(durationSec * SECOND);
    expect(refused.message).toMatch(
      /^too many login attempts from this address: the limit is 30\/1m \(RATE_LIMIT_LOGIN=<attempts>\/<window> on the server changes it\); try again in \d+s$/,
    );
  });

  it("refresh: 120 a minute per IP, the 121st is refused", async () => {
    const { points, durationSec } = DEFAULT_RATE_LIMITS.refresh;
    expect({ points, durationSec }).toEqual({ points: 120, durationSec: 60 });
    const guesses = await repeat(points, (i) =>
      post("127.0.0.41", "auth.refresh", { refreshToken: `guess${i}`.padEnd(43, "x") }),
    );
    expect(reasons(guesses)).toEqual(Array(points).fill("REFRESH_TOKEN_INVALID"));
    const refused = await post("127.0.0.41", "auth.refresh", { refreshToken: "x".repeat(43) });
    expect(refused).toMatchObject({ status: 429, reason: "RATE_LIMITED" });
    expect(refused.retryAfterMs).toBeLessThanOrEqual(durationSec * SECOND);
    expect(refused.message).toMatch(
      /^too many token refreshes from this address: the limit is 120\/1m \(RATE_LIMIT_REFRESH=.+\); try again in \d+s$/,
    );
  });
});
