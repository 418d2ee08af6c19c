import { fastifyTRPCPlugin } from "@trpc/server/adapters/fastify";
import type { RateLimiter } from "@warden/api";
import { AuthError, createAdmin } from "@warden/auth";
import { createTestAuth, type TestAuth } from "@warden/auth/testing";
import {
  comparable,
  email,
  PASSWORD,
  rawRequest,
  startTestServer,
  type RawAnswer,
  type RawRequest,
  type TestServer,
} from "@warden/testing";
import { createLogger, wardenTrpcOptions, type ServerOptions } from "@warden/server";
import fc from "fast-check";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/**
 * /trpc (trpcRoute) against tRPC's official Fastify adapter, mounted at /official on the same
 * server with the same options (router, context, responseMeta, onError): every generated request
 * — batched or not, with inputs good and bad, any method, content type and token — gets the same
 * status, headers and body from both.
 */
const QUERIES = ["health", "auth.me", "sessions.list", "admin.users.find", "admin.revocation", "admin.audit"];
const MUTATIONS = ["auth.signup", "auth.login", "auth.refresh", "auth.logout", "auth.logoutAll", "sessions.revoke"];
const ADMIN_MUTATIONS = ["admin.revokeUser", "admin.revokeSession"];
/** Paths no router has, or that are not URL-decodable. */
const ODD_PATHS = [
  "nope",
  "auth",
  "auth.me.x",
  "",
  "__proto__",
  "constructor",
  "auth%2Eme",
  "%zz",
  "auth.me%",
  "a%2Cb",
  "%E2%82",
];
/** Mutations a valid token would make succeed, changing what the next request sees (and answering new ids). */
const LASTING = new Set(["auth.logout", "auth.logoutAll", ...ADMIN_MUTATIONS]);
const RUNS = Number(process.env.TRPC_ROUTE_RUNS ?? 400);

let t: TestAuth;
let server: TestServer;
const tokens = { user: "", admin: "", revoked: "", garbage: "e30.e30.sig" };
let limited = false;

/** Refuses every budgeted call once set up: signup, login and refresh answer RATE_LIMITED with a Retry-After. */
const rateLimiter: RateLimiter = {
  async consume() {
    if (limited) throw new AuthError("RATE_LIMITED", "slow down", { retryAfterMs: 2_500 });
  },
};

async function mountOfficial(app: FastifyInstance, options: ServerOptions) {
  await app.register(async (scope) => {
    scope.addContentTypeParser("*", { parseAs: "string" }, (_req, body, done) => done(null, body));
    await scope.register(fastifyTRPCPlugin, { prefix: "/official", trpcOptions: wardenTrpcOptions(options, app.log) });
  });
}

async function signIn(address: string) {
  const res = await server.post("/trpc/auth.login", { email: address, password: PASSWORD });
  return res.body.result.data.accessToken as string;
}

beforeAll(async () => {
  t = await createTestAuth();
  const health = { db: async () => true, redis: async () => true };
  server = await startTestServer(t.auth, {
    rateLimiter,
    health,
    extend: (app) =>
      mountOfficial(app, { auth: t.auth, health, rateLimiter, logger: createLogger("silent"), cookieSecure: false }),
  });
  const adminEmail = email("admin");
  const userEmail = email("user");
  await createAdmin(t.auth, adminEmail, PASSWORD);
  await server.post("/trpc/auth.signup", { email: userEmail, password: PASSWORD });
  tokens.user = await signIn(userEmail);
  tokens.admin = await signIn(adminEmail);
  tokens.revoked = await signIn(userEmail);
  await server.post("/trpc/auth.logout", {}, { authorization: `Bearer ${tokens.revoked}` });
  limited = true;
});
afterAll(async () => {
  await server?.close();
  await t?.close();
});

/** A streamed batch (both go to tRPC's adapter) sends each call's line as it ends: compare the lines, not their order. */
function streamed(answer: RawAnswer): RawAnswer {
  if (!/^\{"0":/.test(answer.body) || !answer.body.includes("\n")) return answer;
  return { ...answer, body: answer.body.split("\n").sort().join("\n") };
}

/** The same request to both mounts. */
async function both(prefixless: RawRequest) {
  const send = (prefix: string) =>
    rawRequest(server.url, { ...prefixless, path: `${prefix}${prefixless.path}` }).catch((error: NodeJS.ErrnoException) => ({
      status: 0,
      headers: {},
      body: `no answer: ${error.code}`,
    }));
  const ours = await send("/trpc");
  const official = await send("/official");
  // Fastify's own refusals (a URL it cannot decode) quote the path, prefix included.
  official.body = official.body.replaceAll("/official/", "/trpc/");
  return { ours: comparable(streamed(ours)), official: comparable(streamed(official)) };
}

const identity = fc.constantFrom<keyof typeof tokens | "anon">("anon", "user", "admin", "revoked", "garbage");
const procedurePath = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...QUERIES, ...MUTATIONS, ...ADMIN_MUTATIONS) },
  { weight: 2, arbitrary: fc.constantFrom(...ODD_PATHS) },
);
const fieldValue = fc.oneof(
  fc.uuid(),
  fc.constantFrom("someone@example.com", "long enough password", "reason"),
  fc.string({ maxLength: 12 }),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
);
const objectInput = fc.dictionary(
  fc.constantFrom("email", "password", "userId", "sessionId", "eventId", "reason", "refreshToken", "limit", "cursor"),
  fieldValue,
  { maxKeys: 3 },
);
/** Input text: per-index objects (good and bad indexes), bare values, and text that is not JSON. */
const inputText = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.constantFrom("{}", '{"0":{}}', '{"0":{"email":"someone@example.com","password":"long enough password"}}'),
  },
  fc
    .dictionary(fc.constantFrom("0", "1", "2", "7", "-1", "x"), fc.oneof(objectInput, fieldValue), { maxKeys: 3 })
    .map((v) => JSON.stringify(v)),
  objectInput.map((v) => JSON.stringify(v)),
  fc.constantFrom("null", "[]", "[{}]", '"x"', "1", "{", "{'a':1}", "", "%7B%7D", "\u00e9"),
  fc.string({ maxLength: 20 }),
);
const contentType = fc.constantFrom(
  undefined,
  "application/json",
  "application/json",
  "application/json",
  "APPLICATION/JSON; charset=utf-8",
  "text/plain",
  "application/x-www-form-urlencoded",
  "application/octet-stream",
);
const extraHeaders = fc.record(
  {
    "trpc-accept": fc.constantFrom("application/json", "text/event-stream", "x"),
    accept: fc.constantFrom("application/json", "*/*", "text/html, application/jsonl"),
    "x-warden-cookie": fc.constantFrom("1", "0"),
    cookie: fc.constantFrom("warden-refresh=abc", "warden-refresh=", "other=1"),
    origin: fc.constantFrom("https://app.example", "null"),
  },
  { requiredKeys: [] },
);

const requestArb = fc
  .record({
    method: fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom("GET", "POST") },
      { weight: 1, arbitrary: fc.constantFrom("HEAD", "PUT", "DELETE", "PATCH") },
    ),
    paths: fc.oneof(fc.tuple(procedurePath), fc.array(procedurePath, { minLength: 1, maxLength: 4 })),
    batch: fc.constantFrom(undefined, "1", "1", "0", "true"),
    input: fc.option(inputText, { nil: undefined }),
    encodeInput: fc.boolean(),
    connectionParams: fc.constantFrom(undefined, undefined, undefined, "{}", '{"a":"b"}', "{bad", "[]"),
    who: identity,
    contentType,
    headers: extraHeaders,
    oversized: fc.boolean().map((b) => b && Math.random() < 0.1),
  })
  .map((r) => {
    // A valid token would make these succeed, and change what every later request sees.
    const who = r.method === "POST" && r.paths.some((p) => LASTING.has(p)) && r.who !== "anon" ? "revoked" : r.who;
    return { ...r, who };
  });

type Generated = typeof requestArb extends fc.Arbitrary<infer T> ? T : never;

const plain: Generated = {
  method: "GET",
  paths: ["auth.me"],
  batch: "1",
  input: "{}",
  encodeInput: true,
  connectionParams: undefined,
  who: "user",
  contentType: undefined,
  headers: {},
  oversized: false,
};
const login = '{"0":{"email":"someone@example.com","password":"long enough password"}}';
/** What real clients send (the stock httpBatchLink and @warden/client), and the refusals that matter most. */
const EXAMPLES: Generated[] = [
  plain,
  { ...plain, paths: ["auth.me", "sessions.list"] },
  { ...plain, paths: ["auth.me", "admin.audit"], who: "admin" },
  { ...plain, batch: undefined, input: undefined },
  { ...plain, who: "revoked" },
  { ...plain, method: "POST", paths: ["auth.login"], input: login, contentType: "application/json", who: "anon" },
  {
    ...plain,
    method: "POST",
    paths: ["auth.refresh"],
    input: "{}",
    contentType: "application/json",
    headers: { "x-warden-cookie": "1", cookie: "warden-refresh=abc" },
  },
  { ...plain, method: "POST", paths: ["auth.me"], contentType: "application/json" },
  { ...plain, paths: ["auth.logout"] },
  { ...plain, paths: ["auth.me", "auth.logout"] },
  { ...plain, paths: ["auth.me", "nope"] },
  { ...plain, input: "{" },
  { ...plain, input: '{"0":1,"5":2,"x":3}' },
  { ...plain, input: "[]" },
  { ...plain, method: "POST", paths: ["auth.login"], input: login, contentType: "text/plain", who: "anon" },
  { ...plain, method: "POST", paths: ["auth.login"], input: "x", contentType: "application/json", oversized: true },
  { ...plain, method: "HEAD" },
  { ...plain, method: "PUT" },
  { ...plain, paths: ["admin.audit"], who: "user" },
  { ...plain, paths: ["nope"] },
  { ...plain, paths: ["admin.users.find"], input: '{"0":{"email":"someone@example.com"}}', who: "user" },
  { ...plain, method: "POST", paths: ["auth.signup"], input: login, contentType: "application/json", who: "anon" },
];

function toRequest(r: Generated): RawRequest {
  const params: string[] = [];
  if (r.batch) params.push(`batch=${r.batch}`);
  if (r.method === "GET" && r.input !== undefined)
    params.push(`input=${r.encodeInput ? encodeURIComponent(r.input) : r.input.replace(/[ #&]/g, "")}`);
  if (r.connectionParams) params.push(`connectionParams=${encodeURIComponent(r.connectionParams)}`);
  const headers: Record<string, string> = { ...r.headers };
  if (r.contentType) headers["content-type"] = r.contentType;
  if (r.who !== "anon") headers.authorization = `Bearer ${tokens[r.who]}`;
  const body = r.method === "GET" || r.method === "HEAD" ? undefined : r.oversized ? "x".repeat(20_000) : r.input;
  return { method: r.method, path: `/${r.paths.join(",")}${params.length ? `?${params.join("&")}` : ""}`, headers, body };
}

describe("trpcRoute answers as tRPC's official Fastify adapter", () => {
  it("the same status, headers and body for generated requests of every kind", async () => {
    const seen = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(requestArb, async (r) => {
        const req = toRequest(r);
        const { ours, official } = await both(req);
        expect(
          ours,
          `${req.method} ${req.path} as ${r.who} ${JSON.stringify(r.headers)} ${r.contentType} ${req.body ?? ""}`,
        ).toEqual(official);
        seen.set(ours.status, (seen.get(ours.status) ?? 0) + 1);
      }),
      { numRuns: Math.max(RUNS, EXAMPLES.length), examples: EXAMPLES.map((e) => [e]) },
    );
    // The corpus reached successes, refusals, malformed requests and mixed batches (the examples alone
    // reach each of these, so a run of generated requests that happens to miss one still passes).
    for (const status of [200, 204, 207, 400, 401, 403, 404, 405, 413, 429])
      expect(seen.get(status) ?? 0, `status ${status}`).toBeGreaterThan(0);
  });
});
