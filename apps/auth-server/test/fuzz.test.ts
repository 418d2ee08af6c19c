import { createAdmin } from "@warden/auth";
import { createTestAuth, type TestAuth } from "@warden/auth/testing";
import { ERROR_REASON_LIST } from "@warden/contracts";
import fc from "fast-check";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRateLimiter } from "../src/rate-limit.js";
import { startTestServer, type TestServer } from "../src/testing.js";
import { deleteKeys, email, PASSWORD, testPrefix } from "./helpers.js";

/**
 * Property-based fuzzing of every procedure over real HTTP: arbitrary bodies, query inputs and
 * headers, anonymous, as a user and as an admin. Whatever is sent, the answer is a typed error
 * (or a success for the rare valid input), never a 500, and a refused call writes no row.
 */
const MUTATIONS = ["auth.signup", "auth.login", "auth.refresh", "auth.logout", "auth.logoutAll", "sessions.revoke", "admin.revokeUser", "admin.revokeSession"];
const QUERIES = ["health", "auth.me", "sessions.list", "admin.users.find", "admin.revocation", "admin.audit"];
const RUNS = 200;

let t: TestAuth;
let server: TestServer;
let redis: Redis;
const prefix = testPrefix();
const tokens: Record<"user" | "admin", string> = { user: "", admin: "" };
const adminEmail = email("admin");
const userEmail = email("user");

async function signIn(who: "user" | "admin") {
  const res = await server.post("/trpc/auth.login", { email: who === "admin" ? adminEmail : userEmail, password: PASSWORD });
  tokens[who] = res.body.result.data.accessToken;
}

/** Every row the api can write, in one round trip. */
async function rowCounts(): Promise<string> {
  const [row] = await t.database.sql`select
    (select count(*) from users) as users, (select count(*) from sessions) as sessions,
    (select count(*) from refresh_tokens) as refresh_tokens, (select count(*) from outbox_events) as outbox,
    (select count(*) from audit_log) as audit,
    (select count(*) from sessions where revoked_at is not null) as revoked,
    (select count(*) from refresh_tokens where rotated_at is not null) as rotated`;
  return JSON.stringify(row);
}

const printable = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 80 });
const headerArb = fc.dictionary(
  fc.constantFrom("x-warden-cookie", "content-type", "cookie", "x-forwarded-for", "trpc-accept", "accept", "origin", "authorization"),
  fc.oneof(printable, fc.constantFrom("1", "application/json", "text/plain", "application/jsonl", "Bearer ", "bearer x.y.z")),
  { maxKeys: 4 },
);
const who = fc.constantFrom<"anon" | "user" | "admin">("anon", "user", "admin");
/** Bodies: any JSON, plausible-looking inputs, and raw text that is not JSON at all. */
const structured = fc.record(
  {
    email: fc.oneof(fc.emailAddress(), fc.string(), fc.integer(), fc.constant(null)),
    password: fc.oneof(fc.string({ minLength: 8, maxLength: 40 }), fc.string(), fc.array(fc.string())),
    deviceName: fc.oneof(fc.string({ maxLength: 200 }), fc.integer()),
    refreshToken: fc.oneof(fc.string({ maxLength: 600 }), fc.base64String()),
    sessionId: fc.oneof(fc.uuid(), fc.string()),
    userId: fc.oneof(fc.uuid(), fc.string()),
    eventId: fc.oneof(fc.uuid(), fc.string()),
    reason: fc.string({ maxLength: 600 }),
    lock: fc.oneof(fc.boolean(), fc.string()),
    cursor: fc.oneof(fc.string(), fc.integer()),
    limit: fc.oneof(fc.integer(), fc.double(), fc.string()),
  },
  { requiredKeys: [] },
);
const bodyArb = fc.oneof(fc.json({ maxDepth: 3 }), structured.map((v) => JSON.stringify(v)), fc.string({ maxLength: 200 }), fc.constant(""));

function headersFor(identity: "anon" | "user" | "admin", extra: Record<string, string>): Record<string, string> {
  const headers = { ...extra };
  if (identity !== "anon" && !("authorization" in extra)) headers.authorization = `Bearer ${tokens[identity]}`;
  return headers;
}

async function send(method: "GET" | "POST", path: string, body: string | undefined, headers: Record<string, string>) {
  const res = await fetch(`${server.url}${path}`, { method, headers, body });
  const text = await res.text();
  return { status: res.status, text };
}

/** What the fuzzer reached, per identity: proves it got past authentication into validation. */
const seen = new Map<string, number>();

/** The answer is well formed: a success, or errors that each carry a known reason and a non-500 status. */
function checkAnswer(status: number, text: string, label: string, identity = "anon") {
  expect(status, label).not.toBe(500);
  expect(status, label).toBeLessThan(500);
  let parsed: any;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error(`${label}: answer is not JSON: ${text.slice(0, 200)}`);
  }
  for (const item of Array.isArray(parsed) ? parsed : [parsed]) {
    if (item?.error) expect(ERROR_REASON_LIST, label).toContain(item.error.data.reason);
    const key = `${identity} ${item?.error ? item.error.data.reason : "OK"}`;
    seen.set(key, (seen.get(key) ?? 0) + 1);
  }
}

async function afterCall(status: number, text: string) {
  // Our own fuzzed logout may have ended a session: sign in again so later runs get past auth.
  if (status === 401 && text.includes("SESSION_REVOKED")) await Promise.all([signIn("user"), signIn("admin")]);
}

beforeAll(async () => {
  t = await createTestAuth();
  redis = new Redis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379", { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  await new Promise((resolve) => redis.once("ready", resolve));
  const huge = { points: 1_000_000, durationSec: 60 };
  server = await startTestServer(t.auth, {
    rateLimiter: createRateLimiter({ redis, prefix, limits: { login: huge, loginAccount: huge, signup: huge, refresh: huge } }),
  });
  await createAdmin(t.auth, adminEmail, PASSWORD);
  await server.post("/trpc/auth.signup", { email: userEmail, password: PASSWORD });
  await Promise.all([signIn("user"), signIn("admin")]);
});
afterAll(async () => {
  console.log(`fuzz: answers by identity and reason: ${[...seen].sort().map(([k, v]) => `${k}=${v}`).join(", ")}`);
  await server.close();
  await deleteKeys(redis, prefix);
  redis.disconnect();
  await t.close();
});

describe("fuzzing every procedure over HTTP", () => {
  it("mutations with arbitrary bodies and headers: never a 500, and a refused call writes no row", async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...MUTATIONS), bodyArb, headerArb, who, async (path, body, extra, identity) => {
        const before = await rowCounts();
        const { status, text } = await send("POST", `/trpc/${path}`, body, headersFor(identity, extra));
        checkAnswer(status, text, `${path} ${body.slice(0, 80)}`, identity);
        if (status >= 400) expect(await rowCounts(), `${path} wrote rows for ${body.slice(0, 80)}`).toBe(before);
        await afterCall(status, text);
      }),
      { numRuns: RUNS * 2 },
    );
  });

  it("queries with arbitrary ?input= and headers: never a 500, nothing written", async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...QUERIES), fc.option(bodyArb), headerArb, who, async (path, input, extra, identity) => {
        const before = await rowCounts();
        const query = input === null ? "" : `?input=${encodeURIComponent(input)}`;
        const { status, text } = await send("GET", `/trpc/${path}${query}`, undefined, headersFor(identity, extra));
        checkAnswer(status, text, `${path}${query.slice(0, 80)}`, identity);
        expect(await rowCounts()).toBe(before);
        await afterCall(status, text);
      }),
      { numRuns: RUNS },
    );
  });

  it("batches, wrong methods and odd paths: never a 500", async () => {
    const all = [...MUTATIONS, ...QUERIES];
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom(...all, "nope", "auth", "auth.signup.x", "__proto__", "constructor"), { minLength: 1, maxLength: 4 }),
        fc.constantFrom<"GET" | "POST">("GET", "POST"),
        bodyArb,
        fc.boolean(),
        who,
        async (paths, method, body, batch, identity) => {
          const path = `/trpc/${paths.join(",")}${batch ? "?batch=1" : ""}`;
          const sep = batch ? "&" : "?";
          const url = method === "GET" ? `${path}${sep}input=${encodeURIComponent(body)}` : path;
          const { status, text } = await send(method, url, method === "POST" ? body : undefined, headersFor(identity, {}));
          checkAnswer(status, text, `${method} ${url.slice(0, 120)}`, identity);
          await afterCall(status, text);
        },
      ),
      { numRuns: RUNS },
    );
    // Signed-in fuzzing reached input validation and the procedures themselves, not only the token check.
    expect(seen.get("user VALIDATION_FAILED") ?? 0).toBeGreaterThan(0);
    expect(seen.get("admin VALIDATION_FAILED") ?? 0).toBeGreaterThan(0);
    expect(seen.get("user OK") ?? 0).toBeGreaterThan(0);
  });

  it("a 1 MB query string or header is refused by the HTTP layer, never a 500", async () => {
    const input = encodeURIComponent(JSON.stringify({ email: "a@example.com", password: "p".repeat(1024 * 1024) }));
    const viaQuery = await fetch(`${server.url}/trpc/auth.me?input=${input}`).catch(() => undefined);
    // Node refuses request heads over 16 KB (431) or resets the connection: either way no 500.
    if (viaQuery) expect(viaQuery.status).toBe(431);
    const viaHeader = await fetch(`${server.url}/trpc/health`, { headers: { "x-junk": "j".repeat(1024 * 1024) } }).catch(() => undefined);
    if (viaHeader) expect(viaHeader.status).toBe(431);
    expect((await fetch(`${server.url}/trpc/health`)).status).toBe(200);
  });
});
