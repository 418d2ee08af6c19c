import { createAdmin } from "@warden/auth";
import { createTestAuth, type TestAuth } from "@warden/auth/testing";
import {
  DEVICE_NAME_MAX_LENGTH,
  EMAIL_MAX_LENGTH,
  ERROR_REASON_LIST,
  PASSWORD_MAX_LENGTH,
  PASSWORD_MIN_LENGTH,
  REASON_MAX_LENGTH,
  REFRESH_TOKEN_MAX_LENGTH,
  WEBHOOK_DESCRIPTION_MAX_LENGTH,
  WEBHOOK_EVENT_TYPES,
  WEBHOOK_URL_MAX_LENGTH,
} from "@warden/contracts";
import { randomUUID } from "node:crypto";
import fc from "fast-check";
import { Redis } from "ioredis";
import { deleteKeys, email, PASSWORD, startTestServer, testPrefix, type TestServer } from "@warden/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRateLimiter } from "@warden/server";

/**
 * Property-based fuzzing of every procedure over real HTTP: arbitrary bodies, query inputs and
 * headers, anonymous, as a user and as an admin. Whatever is sent, the answer is a typed error
 * (or a success for the rare valid input), never a 500, and a refused call writes no row.
 */
const MUTATIONS = [
  "auth.signup",
  "auth.login",
  "auth.refresh",
  "auth.logout",
  "auth.logoutAll",
  "sessions.revoke",
  "admin.revokeUser",
  "admin.revokeSession",
  "admin.unlockUser",
  "admin.setRole",
  "admin.deleteUser",
  "admin.webhooks.create",
  "admin.webhooks.delete",
  "admin.webhooks.test",
];
const QUERIES = [
  "health",
  "auth.me",
  "sessions.list",
  "admin.users.find",
  "admin.users.list",
  "admin.revocation",
  "admin.audit",
  "admin.webhooks.list",
];
const RUNS = 200;

let t: TestAuth;
let server: TestServer;
let redis: Redis;
const prefix = testPrefix();
const tokens: Record<"user" | "admin", string> = { user: "", admin: "" };
const adminEmail = email("admin");
const userEmail = email("user");
/** A user no test signs in as: admin.revokeUser may revoke it (no lock) as often as it likes. */
let victimId = "";

async function signIn(who: "user" | "admin") {
  const res = await server.post("/trpc/auth.login", { email: who === "admin" ? adminEmail : userEmail, password: PASSWORD });
  tokens[who] = res.body.result.data.accessToken;
}

/**
 * Every row the api can write, in one round trip. A refused login writes its audit row (that is its
 * point), so those rows are left out; every other audit row comes from an applied event.
 */
async function rowCounts(): Promise<string> {
  const [row] = await t.database.sql`select
    (select count(*) from users) as users, (select count(*) from sessions) as sessions,
    (select count(*) from refresh_tokens) as refresh_tokens, (select count(*) from outbox_events) as outbox,
    (select count(*) from audit_log where type not like 'login.%') as audit,
    (select count(*) from users where locked_at is not null or deleted_at is not null or role = 'admin') as changed_users,
    (select count(*) from webhooks) as webhooks, (select count(*) from webhook_deliveries) as webhook_deliveries,
    (select count(*) from sessions where revoked_at is not null) as revoked,
    (select count(*) from refresh_tokens where rotated_at is not null) as rotated`;
  return JSON.stringify(row);
}

const printable = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 80 });
const headerArb = fc.dictionary(
  fc.constantFrom(
    "x-warden-cookie",
    "content-type",
    "cookie",
    "x-forwarded-for",
    "trpc-accept",
    "accept",
    "origin",
    "authorization",
  ),
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
    role: fc.oneof(fc.constantFrom("user", "admin", "root"), fc.string(), fc.integer()),
    query: fc.oneof(fc.string({ maxLength: 300 }), fc.integer()),
    locked: fc.oneof(fc.boolean(), fc.string()),
    includeDeleted: fc.oneof(fc.boolean(), fc.string()),
    type: fc.oneof(fc.constantFrom("login.failed", "user.deleted", "user.locked", "nope"), fc.string()),
    from: fc.oneof(fc.integer(), fc.double(), fc.string()),
    to: fc.oneof(fc.integer(), fc.double(), fc.string()),
    url: fc.oneof(fc.webUrl(), fc.string(), fc.constantFrom("http://127.0.0.1/", "https://169.254.169.254/", "https://[::1]/")),
    events: fc.oneof(fc.array(fc.constantFrom(...WEBHOOK_EVENT_TYPES, "user.created")), fc.string()),
    description: fc.oneof(fc.string({ maxLength: 250 }), fc.integer()),
    id: fc.oneof(fc.uuid(), fc.string()),
  },
  { requiredKeys: [] },
);
const bodyArb = fc.oneof(
  fc.json({ maxDepth: 3 }),
  structured.map((v) => JSON.stringify(v)),
  fc.string({ maxLength: 200 }),
  fc.constant(""),
);

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

/** Strings at every edge: empty, blank, astral, the largest code point, lone surrogates, huge digit runs. */
const EDGE_STRINGS = [
  "",
  " ",
  "\u0000",
  "\u{1F600}",
  "\u{10FFFF}",
  "\uFFFF",
  "\uD800",
  "\uDC00",
  "a\uDFFFb",
  "\uDBFF\uD800",
  "0",
  "-1",
  "9223372036854775807",
  "9223372036854775808",
  "9".repeat(64),
  "9".repeat(65),
  "1e400",
];
/** Values of the wrong type (the arbitrary bodies above cover the rest). */
const EDGE_JSON: unknown[] = [null, 1.5, 2 ** 63, -1e308, [], {}];
/**
 * Epoch-millisecond edges: the first instant, the last of year 9999 and one past it, the last a Date
 * holds (its ISO string has a six-digit year), negative, fractional.
 */
const TIME_EDGES: unknown[] = [0, -1, 1.5, 253_402_300_799_999, 253_402_300_800_000, 8_640_000_000_000_000, 2 ** 63];
/** A whole input at an edge (an object expected): nothing, empty, a scalar, an array, a bare lone surrogate. */
const EDGE_INPUTS: unknown[] = [null, "", "\uD800", "\u{1F600}", "9".repeat(65), 2 ** 63, [], {}];

/** A string field at its limit and one past it, in ASCII, astral characters (2 UTF-16 units each) and with a lone surrogate. */
function lengthEdges(max: number, min = 1): string[] {
  return [
    "a".repeat(max),
    "a".repeat(max + 1),
    "\u{1F600}".repeat(max),
    "\u{1F600}".repeat(max + 1),
    "a".repeat(max - 1) + "\uD800",
    "a".repeat(Math.max(min - 1, 0)),
    "a".repeat(min),
  ];
}

function emailEdges(): string[] {
  const at = (local: string) => `${local}@example.com`; // the domain is 12 characters
  return [
    at("a".repeat(EMAIL_MAX_LENGTH - 12)),
    at("a".repeat(EMAIL_MAX_LENGTH - 11)),
    at("\u{1F600}".repeat(EMAIL_MAX_LENGTH - 12)),
    at("\u{1F600}".repeat(EMAIL_MAX_LENGTH - 11)),
    at("A".repeat(EMAIL_MAX_LENGTH * 4)),
    at("\u1E96".repeat(10)),
    at("H\u0331".repeat(10)),
    at("a\uD800"),
    at("a\u{E0041}"),
    ` ${at("\u212A")} `,
  ];
}

const uuidEdges = () => [
  "00000000-0000-0000-0000-000000000000",
  "ffffffff-ffff-ffff-ffff-ffffffffffff",
  randomUUID().toUpperCase(),
  `{${randomUUID()}}`,
  "g".repeat(36),
];

/** Who gets past authorization: authorization comes before validation, so the others are refused whatever the input. */
function reaches(identity: "anon" | "user" | "admin", path: string): boolean {
  if (path.startsWith("admin.")) return identity === "admin";
  if (["auth.logout", "auth.logoutAll", "auth.me", "sessions.list", "sessions.revoke"].includes(path)) return identity !== "anon";
  return true;
}

/**
 * Every procedure with a valid-looking base input and the edges of each of its fields. `whole` marks
 * the inputs that are an edge as a whole (sent as every identity); the field edges go to whoever
 * reaches the procedure's validation.
 */
function boundaryCases(): { path: string; input: unknown; whole: boolean }[] {
  const strings = (extra: string[]) => [...EDGE_STRINGS, ...EDGE_JSON, ...extra];
  const password = lengthEdges(PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH);
  const procedures: { path: string; base: () => Record<string, unknown>; fields: Record<string, unknown[]> }[] = [
    {
      path: "auth.signup",
      base: () => ({ email: email("edge"), password: PASSWORD, deviceName: "edge" }),
      fields: {
        email: strings(emailEdges()),
        password: strings(password),
        deviceName: strings(lengthEdges(DEVICE_NAME_MAX_LENGTH)),
      },
    },
    {
      path: "auth.login",
      base: () => ({ email: userEmail, password: "not the password", deviceName: "edge" }),
      fields: {
        email: strings(emailEdges()),
        password: strings(password),
        deviceName: strings(lengthEdges(DEVICE_NAME_MAX_LENGTH)),
      },
    },
    {
      path: "auth.refresh",
      base: () => ({ refreshToken: "x" }),
      fields: { refreshToken: strings(lengthEdges(REFRESH_TOKEN_MAX_LENGTH)) },
    },
    { path: "auth.logout", base: () => ({}), fields: {} },
    { path: "auth.logoutAll", base: () => ({}), fields: {} },
    { path: "auth.me", base: () => ({}), fields: {} },
    { path: "health", base: () => ({}), fields: {} },
    { path: "sessions.list", base: () => ({}), fields: {} },
    { path: "sessions.revoke", base: () => ({ sessionId: randomUUID() }), fields: { sessionId: strings(uuidEdges()) } },
    {
      path: "admin.users.find",
      base: () => ({ email: userEmail }),
      fields: { email: strings(emailEdges()), userId: strings(uuidEdges()) },
    },
    {
      path: "admin.revokeUser",
      base: () => ({ userId: victimId, reason: "edge", lock: false }),
      fields: {
        userId: strings(uuidEdges()),
        reason: strings(lengthEdges(REASON_MAX_LENGTH)),
        lock: [...EDGE_STRINGS, ...EDGE_JSON, false],
      },
    },
    {
      path: "admin.revokeSession",
      base: () => ({ sessionId: randomUUID(), reason: "edge" }),
      fields: { sessionId: strings(uuidEdges()), reason: strings(lengthEdges(REASON_MAX_LENGTH)) },
    },
    { path: "admin.revocation", base: () => ({ eventId: randomUUID() }), fields: { eventId: strings(uuidEdges()) } },
    {
      path: "admin.webhooks.create",
      base: () => ({ url: "https://hooks.example.com/edge", events: ["session.revoked"], description: "edge" }),
      fields: {
        url: strings([
          ...lengthEdges(WEBHOOK_URL_MAX_LENGTH - "https://example.com/".length).map((s) => `https://example.com/${s}`),
          "https://[fe80::1%25eth0]/",
          "https://0x7f.1/",
          "https://xn--nxasmq6b.example/",
          "https://例え.テスト/",
        ]),
        events: [
          ...EDGE_STRINGS,
          ...EDGE_JSON,
          [],
          [...WEBHOOK_EVENT_TYPES, ...WEBHOOK_EVENT_TYPES],
          Array(500).fill("user.revoked"),
        ],
        description: strings(lengthEdges(WEBHOOK_DESCRIPTION_MAX_LENGTH)),
      },
    },
    { path: "admin.webhooks.list", base: () => ({}), fields: {} },
    { path: "admin.webhooks.delete", base: () => ({ id: randomUUID() }), fields: { id: strings(uuidEdges()) } },
    { path: "admin.webhooks.test", base: () => ({ id: randomUUID() }), fields: { id: strings(uuidEdges()) } },
    {
      path: "admin.audit",
      base: () => ({ limit: 5 }),
      fields: {
        cursor: strings(["1", "0".repeat(64), `${"0".repeat(45)}9223372036854775807`, "18446744073709551616"]),
        limit: [...EDGE_STRINGS, ...EDGE_JSON, 0, -1, 1, 200, 201, 2 ** 31, 2 ** 53 + 2, 1e308],
        userId: strings(uuidEdges()),
        type: strings(["login.failed", "user.locked", "user.revoked ", "USER.REVOKED"]),
        from: [...EDGE_STRINGS, ...EDGE_JSON, ...TIME_EDGES],
        to: [...EDGE_STRINGS, ...EDGE_JSON, ...TIME_EDGES],
      },
    },
    {
      path: "admin.users.list",
      base: () => ({ limit: 5 }),
      fields: {
        query: strings([...emailEdges(), ...lengthEdges(EMAIL_MAX_LENGTH), "%", "_", "\\", "example"]),
        role: [...EDGE_STRINGS, ...EDGE_JSON, "user", "admin", "root"],
        locked: [...EDGE_STRINGS, ...EDGE_JSON, true, false],
        includeDeleted: [...EDGE_STRINGS, ...EDGE_JSON, true, false],
        cursor: strings(uuidEdges()),
        limit: [...EDGE_STRINGS, ...EDGE_JSON, 0, -1, 1, 200, 201, 2 ** 53 + 2, 1e308],
      },
    },
    {
      path: "admin.unlockUser",
      base: () => ({ userId: victimId, reason: "edge" }),
      fields: { userId: strings(uuidEdges()), reason: strings(lengthEdges(REASON_MAX_LENGTH)) },
    },
    {
      // The victim is a plain user already: setting that role changes nothing.
      path: "admin.setRole",
      base: () => ({ userId: victimId, role: "user", reason: "edge" }),
      fields: {
        userId: strings(uuidEdges()),
        role: [...EDGE_STRINGS, ...EDGE_JSON, "user", "root", "ADMIN"],
        reason: strings(lengthEdges(REASON_MAX_LENGTH)),
      },
    },
    {
      // An id no account has: every edge reaches the lookup and deletes nothing.
      path: "admin.deleteUser",
      base: () => ({ userId: randomUUID(), reason: "edge" }),
      fields: { userId: strings(uuidEdges()), reason: strings(lengthEdges(REASON_MAX_LENGTH)) },
    },
  ];
  const cases: { path: string; input: unknown; whole: boolean }[] = [];
  for (const { path, base, fields } of procedures) {
    for (const input of EDGE_INPUTS) cases.push({ path, input, whole: true });
    for (const [field, values] of Object.entries(fields)) {
      for (const value of values) {
        // admin.users.find takes { email } or { userId }: each alone.
        const input = path === "admin.users.find" ? { [field]: value } : { ...base(), [field]: value };
        cases.push({ path, input, whole: false });
      }
    }
  }
  return cases;
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
  victimId = (await server.post("/trpc/auth.signup", { email: email("victim"), password: PASSWORD })).body.result.data.user.id;
});
afterAll(async () => {
  console.log(
    `fuzz: answers by identity and reason: ${[...seen]
      .sort()
      .map(([k, v]) => `${k}=${v}`)
      .join(", ")}`,
  );
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
        fc.array(fc.constantFrom(...all, "nope", "auth", "auth.signup.x", "__proto__", "constructor"), {
          minLength: 1,
          maxLength: 4,
        }),
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

  it("boundary values of every field, for every procedure, as anonymous, user and admin: never a 500", async () => {
    const cases = boundaryCases();
    let sent = 0;
    for (const identity of ["anon", "user", "admin"] as const) {
      for (const { path, input, whole } of cases) {
        if (!whole && !reaches(identity, path)) continue;
        sent++;
        const before = await rowCounts();
        const json = JSON.stringify(input);
        const { status, text } = MUTATIONS.includes(path)
          ? await send("POST", `/trpc/${path}`, json, headersFor(identity, { "content-type": "application/json" }))
          : await send("GET", `/trpc/${path}?input=${encodeURIComponent(json)}`, undefined, headersFor(identity, {}));
        const label = `${identity} ${path} ${json.slice(0, 100)}`;
        checkAnswer(status, text, label, identity);
        if (status >= 400) expect(await rowCounts(), `${label} wrote rows`).toBe(before);
        await afterCall(status, text);
      }
    }
    console.log(`fuzz: ${cases.length} boundary inputs, ${sent} calls as anonymous, user and admin`);
  }, 600_000);

  it("admin.audit answers every cursor its schema accepts: the largest bigint pages from the top, beyond it is VALIDATION_FAILED", async () => {
    const audit = (input: unknown) =>
      send("GET", `/trpc/admin.audit?input=${encodeURIComponent(JSON.stringify(input))}`, undefined, headersFor("admin", {}));
    await server.post("/trpc/admin.revokeUser", { userId: victimId, reason: "audit cursor" }, headersFor("admin", {}));
    const top = await audit({ cursor: "9223372036854775807" });
    expect(top.status, top.text).toBe(200);
    const bottom = await audit({ cursor: "0" });
    expect(JSON.parse(bottom.text).result.data).toEqual({ items: [], nextCursor: null });
    for (const cursor of ["9223372036854775808", "18446744073709551616", "9".repeat(64)]) {
      const res = await audit({ cursor });
      expect(res.status, cursor).toBe(400);
      expect(JSON.parse(res.text).error.data.reason, cursor).toBe("VALIDATION_FAILED");
    }
  });

  it("a 1 MB query string or header is refused by the HTTP layer, never a 500", async () => {
    const input = encodeURIComponent(JSON.stringify({ email: "a@example.com", password: "p".repeat(1024 * 1024) }));
    // Node refuses request heads over 16 KB with 431 and closes the connection; if it closes before the
    // client has finished writing, the fetch fails with a reset instead. Both are the defence at work;
    // any other answer or failure (a 4xx from tRPC, a refused connection) is not.
    expect(await headOutcome(`${server.url}/trpc/auth.me?input=${input}`)).toMatch(/^(431|reset by the server)$/);
    expect(await headOutcome(`${server.url}/trpc/health`, { "x-junk": "j".repeat(1024 * 1024) })).toMatch(
      /^(431|reset by the server)$/,
    );
    // Still serving afterwards.
    expect((await fetch(`${server.url}/trpc/health`)).status).toBe(200);
  });
});

/** The status of a GET, or "reset by the server" when the server closed the connection under it. */
async function headOutcome(url: string, headers: Record<string, string> = {}): Promise<string> {
  try {
    const res = await fetch(url, { headers });
    await res.arrayBuffer();
    return String(res.status);
  } catch (error) {
    const code = (error as { cause?: { code?: string } }).cause?.code;
    if (code === "ECONNRESET" || code === "EPIPE" || code === "UND_ERR_SOCKET") return "reset by the server";
    throw error;
  }
}
