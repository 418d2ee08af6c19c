import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { createAuth, createKeyRing, es256KeyFromPem, generateEs256PrivateKeyPem } from "@warden/auth";
import { createTestAuth, createTestClock, TEST_AUDIENCE, TEST_ISSUER, type TestAuth } from "@warden/auth/testing";
import { email, PASSWORD, startTestServer, type TestServer } from "@warden/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadKeyRing, serverEnvSchema } from "@warden/server";

const clock = createTestClock(Date.now());
const oldPem = generateEs256PrivateKeyPem();
let t: TestAuth;
let server: TestServer;

beforeAll(async () => {
  t = await createTestAuth({ clock, keys: createKeyRing(es256KeyFromPem(oldPem)) });
  server = await startTestServer(t.auth, { cookieSecure: true, corsOrigins: ["https://app.example"] });
});
afterAll(async () => {
  await server.close();
  await t.close();
});

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe("token types never cross", () => {
  it("a refresh token is not an access token, and an access token is not a refresh token", async () => {
    const { accessToken, refreshToken } = (await server.post("/trpc/auth.signup", { email: email(), password: PASSWORD })).body
      .result.data;
    const asAccess = await server.get("/trpc/auth.me", undefined, bearer(refreshToken));
    expect(asAccess.body.error.data.reason).toBe("TOKEN_INVALID");
    const asRefresh = await server.post("/trpc/auth.refresh", { refreshToken: accessToken });
    expect(asRefresh.body.error.data.reason).toBe("REFRESH_TOKEN_INVALID");
    // The header names the type: the access token says at+jwt, the refresh token is opaque (no JWT at all).
    expect(JSON.parse(Buffer.from(accessToken.split(".")[0], "base64url").toString()).typ).toBe("at+jwt");
    expect(refreshToken).not.toContain(".");
  });
});

describe("signing-key rotation", () => {
  it("a new key signs, tokens of the old key verify until they expire, and the JWKS lists both", async () => {
    const before = (await server.post("/trpc/auth.signup", { email: email("rot"), password: PASSWORD })).body.result.data;
    // A second instance after the rotation: new current key, the old one kept to verify only.
    const dir = await mkdtemp(path.join(os.tmpdir(), "warden-keys-"));
    try {
      const newPem = generateEs256PrivateKeyPem();
      await writeFile(path.join(dir, "current.pem"), newPem);
      await writeFile(path.join(dir, "previous.pem"), oldPem);
      const env = serverEnvSchema.parse({
        JWT_PRIVATE_KEY_FILE: path.join(dir, "current.pem"),
        JWT_PREVIOUS_KEYS_FILE: path.join(dir, "previous.pem"),
      });
      const keys = loadKeyRing(env);
      expect(keys.current.kid).not.toBe(t.auth.keys.current.kid);
      expect(keys.byKid.get(t.auth.keys.current.kid)?.signingKey).toBeUndefined();
      const rotated = createAuth({ db: t.database.db, keys, clock, settings: { issuer: TEST_ISSUER, audience: TEST_AUDIENCE } });
      const next = await startTestServer(rotated);
      try {
        const jwks = (await next.get("/.well-known/jwks.json")).body;
        expect(jwks.keys.map((k: { kid: string }) => k.kid).sort()).toEqual([keys.current.kid, t.auth.keys.current.kid].sort());
        expect(jwks.keys.every((k: Record<string, unknown>) => k.d === undefined)).toBe(true);

        expect((await next.get("/trpc/auth.me", undefined, bearer(before.accessToken))).status).toBe(200);
        const after = (await next.post("/trpc/auth.refresh", { refreshToken: before.refreshToken })).body.result.data;
        const kidOf = (token: string) => JSON.parse(Buffer.from(token.split(".")[0]!, "base64url").toString()).kid;
        expect(kidOf(after.accessToken)).toBe(keys.current.kid);
        expect((await next.get("/trpc/auth.me", undefined, bearer(after.accessToken))).status).toBe(200);

        clock.advance(16 * 60_000);
        expect((await next.get("/trpc/auth.me", undefined, bearer(before.accessToken))).body.error.data.reason).toBe(
          "TOKEN_EXPIRED",
        );
        // A server that no longer lists the old key refuses its tokens outright.
        const dropped = createAuth({
          db: t.database.db,
          keys: createKeyRing(keys.current),
          clock,
          settings: { issuer: TEST_ISSUER, audience: TEST_AUDIENCE },
        });
        const last = await startTestServer(dropped);
        try {
          expect((await last.get("/trpc/auth.me", undefined, bearer(before.accessToken))).body.error.data.reason).toBe(
            "TOKEN_INVALID",
          );
        } finally {
          await last.close();
        }
      } finally {
        await next.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("browser mode cookie", () => {
  it("is HttpOnly, Secure, SameSite=Strict, __Secure- prefixed, sent to /trpc only, never in the body", async () => {
    const res = await server.post("/trpc/auth.login", { email: "nobody@example.com", password: PASSWORD });
    expect(res.status).toBe(401);
    const signup = await server.post(
      "/trpc/auth.signup",
      { email: email("cookie"), password: PASSWORD },
      { "x-warden-cookie": "1" },
    );
    expect(signup.body.result.data.refreshToken).toBe("");
    const setCookie = signup.headers.get("set-cookie") ?? "";
    expect(setCookie).toMatch(/^__Secure-warden-refresh=/);
    for (const attribute of [/; HttpOnly/i, /; Secure/i, /; SameSite=Strict/i, /; Path=\/trpc(;|$)/, /; Expires=/])
      expect(setCookie).toMatch(attribute);
    expect(setCookie).not.toMatch(/Domain=/i);
  });

  it("CSRF: without x-warden-cookie the cookie is ignored, and logout needs the bearer token, not the cookie", async () => {
    const signup = await server.post(
      "/trpc/auth.signup",
      { email: email("csrf"), password: PASSWORD },
      { "x-warden-cookie": "1" },
    );
    const cookie = (signup.headers.get("set-cookie") ?? "").split(";")[0]!;
    const noHeader = await server.post("/trpc/auth.refresh", {}, { cookie });
    expect(noHeader.body.error.data.reason).toBe("REFRESH_TOKEN_MISSING");
    // A cross-site form post (text/plain, no custom header) gets nothing either.
    const form = await fetch(`${server.url}/trpc/auth.refresh`, {
      method: "POST",
      headers: { cookie, "content-type": "text/plain" },
      body: "{}",
    });
    expect(form.status).toBeGreaterThanOrEqual(400);
    expect(["REFRESH_TOKEN_MISSING", "VALIDATION_FAILED"]).toContain(((await form.json()) as any).error.data.reason);
    const logoutByCookie = await server.post("/trpc/auth.logout", {}, { cookie, "x-warden-cookie": "1" });
    expect(logoutByCookie.body.error.data.reason).toBe("TOKEN_MISSING");
    // The session survived both attempts; logout with the token clears the cookie.
    const refreshed = await server.post("/trpc/auth.refresh", {}, { cookie, "x-warden-cookie": "1" });
    expect(refreshed.status).toBe(200);
    const logout = await server.post(
      "/trpc/auth.logout",
      {},
      { ...bearer(refreshed.body.result.data.accessToken), "x-warden-cookie": "1" },
    );
    expect(logout.status).toBe(200);
    expect(logout.headers.get("set-cookie")).toMatch(/^__Secure-warden-refresh=;.*Expires=Thu, 01 Jan 1970/);
  });

  it("CORS: a foreign origin's preflight for the custom header is not allowed; the configured origin is", async () => {
    const preflight = (origin: string) =>
      fetch(`${server.url}/trpc/auth.refresh`, {
        method: "OPTIONS",
        headers: {
          origin,
          "access-control-request-method": "POST",
          "access-control-request-headers": "x-warden-cookie,content-type",
        },
      });
    const evil = await preflight("https://evil.example");
    expect(evil.headers.get("access-control-allow-origin")).toBeNull();
    const good = await preflight("https://app.example");
    expect(good.headers.get("access-control-allow-origin")).toBe("https://app.example");
    expect(good.headers.get("access-control-allow-credentials")).toBe("true");
  });
});
