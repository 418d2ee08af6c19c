import { randomUUID } from "node:crypto";
import { createTestAuth, type TestAuth } from "@warden/auth/testing";
import { users } from "@warden/db";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "@warden/testing";

let t: TestAuth;
let server: TestServer;
const password = "correct horse battery";

beforeAll(async () => {
  t = await createTestAuth();
  server = await startTestServer(t.auth);
});
afterAll(async () => {
  await server.close();
  await t.close();
});

const email = () => `http-${randomUUID()}@example.com`;

describe("over HTTP", () => {
  it("signup then auth.me with the bearer token returns the user", async () => {
    const signup = await server.post("/trpc/auth.signup", { email: email(), password });
    expect(signup.status).toBe(200);
    const { accessToken, user } = signup.body.result.data;
    const me = await server.get("/trpc/auth.me", undefined, { authorization: `Bearer ${accessToken}` });
    expect(me.status).toBe(200);
    expect(me.body.result.data.user).toEqual(user);
  });

  it("no token is TOKEN_MISSING (401), two Authorization headers TOKEN_INVALID", async () => {
    const res = await server.get("/trpc/auth.me");
    expect(res.status).toBe(401);
    expect(res.body.error.data.reason).toBe("TOKEN_MISSING");
    const signup = await server.post("/trpc/auth.signup", { email: email(), password });
    const token = signup.body.result.data.accessToken;
    const raw = await rawRequest(server.url, "GET /trpc/auth.me HTTP/1.1", [
      `Authorization: Bearer ${token}`,
      `Authorization: Bearer ${token}`,
    ]);
    expect(raw).toMatch(/^HTTP\/1.1 401/);
    expect(raw).toContain("TOKEN_INVALID");
  });

  it("bad input is VALIDATION_FAILED with status 400, never a 500", async () => {
    const cases: [string, unknown][] = [
      ["wrong types", { email: 1, password: ["x"] }],
      ["10k-character email", { email: `${"a".repeat(10_000)}@example.com`, password }],
      ["NUL bytes", { email: "a\u0000b@example.com", password }],
      ["invalid JSON", "{not json"],
      ["array body", "[1,2,3]"],
      ["empty body", ""],
      ["null", "null"],
    ];
    for (const [name, body] of cases) {
      const res = await server.post("/trpc/auth.signup", body);
      expect(res.status, name).toBe(400);
      expect(res.body.error.data.reason, name).toBe("VALIDATION_FAILED");
    }
    const noType = await fetch(`${server.url}/trpc/auth.login`, { method: "POST", body: "{oops" });
    expect(noType.status).toBe(400);
    const textPlain = await fetch(`${server.url}/trpc/auth.login`, {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: "{oops",
    });
    expect(textPlain.status).toBe(400);
    const badQuery = await fetch(`${server.url}/trpc/admin.users.find?input=%7Bnope`);
    expect(badQuery.status).toBeLessThan(500);
    // Nothing was written for any of them.
    const rows = await t.database.db.select({ id: users.id }).from(users);
    expect(rows.length).toBe(2);
  });

  it("a body sent without content-type: application/json, or not JSON, is refused with a message that says which", async () => {
    const body = JSON.stringify({ email: email(), password });
    const answer = async (headers: Record<string, string>, text = body) => {
      // Bytes: fetch adds no content type of its own (a string body would be sent as text/plain).
      const res = await fetch(`${server.url}/trpc/auth.signup`, {
        method: "POST",
        headers,
        body: new TextEncoder().encode(text),
      });
      const { error } = (await res.json()) as { error: { message: string; data: { reason: string; issues: unknown } } };
      return { status: res.status, reason: error.data.reason, message: error.message, issues: error.data.issues };
    };
    expect(await answer({})).toEqual({
      status: 400,
      reason: "VALIDATION_FAILED",
      message: "the content type is missing or not JSON: send the body as JSON with content-type: application/json",
      issues: [
        {
          path: "",
          message: "the content type is missing or not JSON: send the body as JSON with content-type: application/json",
        },
      ],
    });
    // What `curl -d` sends.
    expect(await answer({ "content-type": "application/x-www-form-urlencoded" })).toMatchObject({
      status: 400,
      reason: "VALIDATION_FAILED",
      message: "the content type is missing or not JSON: send the body as JSON with content-type: application/json",
    });
    expect(await answer({ "content-type": "application/json" }, "{oops")).toMatchObject({
      status: 400,
      reason: "VALIDATION_FAILED",
      message: "the input is not valid JSON (the body of a POST, ?input= of a GET)",
    });
  });

  it("an oversized body is refused with 413 before tRPC sees it", async () => {
    const res = await server.post("/trpc/auth.signup", { email: email(), password: "x".repeat(100_000) });
    expect(res.status).toBe(413);
    expect(res.body.error.data.reason).toBe("VALIDATION_FAILED");
  });

  it("unknown procedures and routes are 404 NOT_FOUND", async () => {
    expect((await server.post("/trpc/nope", {})).status).toBe(404);
    expect((await server.get("/nope")).status).toBe(404);
  });

  it("serves the JWKS with the current public key", async () => {
    const res = await server.get("/.well-known/jwks.json");
    expect(res.status).toBe(200);
    expect(res.body.keys[0]).toMatchObject({ kty: "EC", crv: "P-256", kid: t.auth.keys.current.kid, alg: "ES256" });
    expect(res.body.keys[0].d).toBeUndefined();
  });

  it("browser mode keeps the refresh token in an httpOnly cookie and refreshes from it", async () => {
    const signup = await server.post("/trpc/auth.signup", { email: email(), password }, { "x-warden-cookie": "1" });
    expect(signup.body.result.data.refreshToken).toBe("");
    const setCookie = signup.headers.get("set-cookie") ?? "";
    expect(setCookie).toMatch(/HttpOnly/i);
    expect(setCookie).toMatch(/SameSite=Strict/i);
    expect(setCookie).toMatch(/Path=\/trpc/);
    const cookie = setCookie.split(";")[0]!;
    // Without the custom header the cookie is not used (a cross-site form cannot refresh).
    const withoutHeader = await server.post("/trpc/auth.refresh", {}, { cookie });
    expect(withoutHeader.body.error.data.reason).toBe("REFRESH_TOKEN_MISSING");
    const refreshed = await server.post("/trpc/auth.refresh", {}, { cookie, "x-warden-cookie": "1" });
    expect(refreshed.status).toBe(200);
    expect(refreshed.headers.get("set-cookie")?.split(";")[0]).not.toBe(cookie);
  });

  it("logs carry no token or password", async () => {
    const e = email();
    const signup = await server.post("/trpc/auth.signup", { email: e, password });
    const { accessToken, refreshToken } = signup.body.result.data;
    await server.get("/trpc/auth.me", undefined, { authorization: `Bearer ${accessToken}` });
    await server.post("/trpc/auth.refresh", { refreshToken });
    await server.get(`/trpc/auth.login?input=${encodeURIComponent(JSON.stringify({ email: e, password }))}`);
    const logs = server.logs.text;
    expect(logs.length).toBeGreaterThan(0);
    for (const secret of [password, accessToken, refreshToken]) expect(logs).not.toContain(secret);
  });
});

async function rawRequest(baseUrl: string, requestLine: string, headers: string[]): Promise<string> {
  const { connect } = await import("node:net");
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname, () => {
      socket.write(`${requestLine}\r\nHost: ${url.host}\r\n${headers.join("\r\n")}\r\nConnection: close\r\n\r\n`);
    });
    let data = "";
    socket.on("data", (d) => (data += d.toString()));
    socket.on("end", () => resolve(data));
    socket.on("error", reject);
  });
}
