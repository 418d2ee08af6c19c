import { createHmac, createPublicKey, generateKeyPairSync, randomUUID } from "node:crypto";
import v8 from "node:v8";
import { createSession } from "@warden/auth";
import { createTestAuth, createTestClock, TEST_AUDIENCE, TEST_ISSUER, type TestAuth } from "@warden/auth/testing";
import { refreshTokens } from "@warden/db";
import { and, eq, isNull } from "drizzle-orm";
import jwt from "jsonwebtoken";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { callerFor, reasonOf, signUp } from "../testing.js";

const clock = createTestClock();
let t: TestAuth;

beforeAll(async () => {
  t = await createTestAuth({ clock, settings: { accessTokenTtlMs: 15 * 60_000, refreshReuseGraceMs: 10_000 } });
});
afterAll(() => t.close());

let n = 0;
const password = "correct horse battery";
async function signup(extra: { deviceName?: string } = {}) {
  return signUp(t.auth, { email: `user${++n}-${randomUUID()}@example.com`, password, ...extra });
}

describe("access tokens", () => {
  it("signup then auth.me with the access token returns the user", async () => {
    const res = await signup();
    const me = await callerFor(t.auth, res.accessToken).auth.me();
    expect(me.user).toEqual(res.user);
    expect(me.session.id).toBe(res.sessionId);
  });

  it("every session's auth.me answer has the same hidden classes (V8 maps), so reading one never misses an inline cache", async () => {
    // V8's own check, made callable here (flags set at run time apply to code compiled after).
    v8.setFlagsFromString("--allow-natives-syntax");
    const sameMap = new Function("a", "b", "return %HaveSameMap(a, b)") as (a: object, b: object) => boolean;
    v8.setFlagsFromString("--no-allow-natives-syntax");
    // Enough sessions for V8 to take its fast path for the copies (the first few are made the slow way).
    const { user } = await signup();
    const answers = [];
    for (let i = 0; i < 40; i++) {
      const pair = await createSession(t.auth, t.auth.db, user, { deviceName: `device ${i}` });
      answers.push(await callerFor(t.auth, pair.accessToken).auth.me());
    }
    const [first, ...rest] = answers;
    for (const other of rest) {
      expect(sameMap(first!, other)).toBe(true);
      expect(sameMap(first!.user, other.user)).toBe(true);
      expect(sameMap(first!.session, other.session)).toBe(true);
    }
  });

  it("without a token: TOKEN_MISSING; garbage: TOKEN_INVALID", async () => {
    expect(await reasonOf(callerFor(t.auth).auth.me())).toBe("TOKEN_MISSING");
    expect(await reasonOf(callerFor(t.auth, "garbage").auth.me())).toBe("TOKEN_INVALID");
    expect(await reasonOf(callerFor(t.auth, undefined, { authorization: "Basic abc" }).auth.me())).toBe("TOKEN_INVALID");
  });

  it("alg none, another key, HS256 forged with the ES256 public key, no exp: all TOKEN_INVALID", async () => {
    const res = await signup();
    const claims = jwt.decode(res.accessToken) as jwt.JwtPayload;
    const kid = t.auth.keys.current.kid;
    const header = { typ: "at+jwt", kid };

    const none = jwt.sign(claims, "", { algorithm: "none", header: { ...header, alg: "none" } });
    const { privateKey: otherKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    const otherSigned = jwt.sign(claims, otherKey, { algorithm: "ES256", header: { ...header, alg: "ES256" } });
    // Classic confusion attack: HMAC with the public key's PEM text as the secret.
    const publicPem = createPublicKey(t.auth.keys.current.signingKey).export({ format: "pem", type: "spki" }).toString();
    const confused = forgeHs256(claims, publicPem, header);
    const { exp: _exp, ...noExp } = claims;
    const withoutExp = jwt.sign(noExp, t.auth.keys.current.signingKey, {
      algorithm: "ES256",
      header: { ...header, alg: "ES256" },
    });

    for (const token of [none, otherSigned, confused, withoutExp]) {
      expect(await reasonOf(callerFor(t.auth, token).auth.me())).toBe("TOKEN_INVALID");
    }
  });

  it("an expired access token: TOKEN_EXPIRED", async () => {
    const res = await signup();
    clock.advance(15 * 60_000 + 1000);
    expect(await reasonOf(callerFor(t.auth, res.accessToken).auth.me())).toBe("TOKEN_EXPIRED");
  });

  it("a token for another audience or issuer: TOKEN_INVALID", async () => {
    const res = await signup();
    const claims = jwt.decode(res.accessToken) as jwt.JwtPayload;
    const header = { typ: "at+jwt", kid: t.auth.keys.current.kid, alg: "ES256" as const };
    for (const patch of [{ aud: "other" }, { iss: "https://evil.test" }, { iss: TEST_ISSUER.toUpperCase() }]) {
      const token = jwt.sign({ ...claims, ...patch }, t.auth.keys.current.signingKey, { algorithm: "ES256", header });
      expect(await reasonOf(callerFor(t.auth, token).auth.me())).toBe("TOKEN_INVALID");
    }
    expect(TEST_AUDIENCE).toBe(claims.aud);
  });
});

function forgeHs256(claims: object, secret: string, header: object): string {
  const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const body = `${enc({ ...header, alg: "HS256" })}.${enc(claims)}`;
  return `${body}.${createHmac("sha256", secret).update(body).digest("base64url")}`;
}

describe("signup and login", () => {
  it("a wrong password and an unknown email get the same INVALID_CREDENTIALS", async () => {
    const res = await signup();
    const wrong = callerFor(t.auth).auth.login({ email: res.user.email, password: "not the password" });
    const unknown = callerFor(t.auth).auth.login({ email: `nobody-${randomUUID()}@example.com`, password });
    const [a, b] = await Promise.allSettled([wrong, unknown]);
    expect(a.status).toBe("rejected");
    expect(b.status).toBe("rejected");
    const ea = (a as PromiseRejectedResult).reason;
    const eb = (b as PromiseRejectedResult).reason;
    expect(await reasonOf(Promise.reject(ea))).toBe("INVALID_CREDENTIALS");
    expect(await reasonOf(Promise.reject(eb))).toBe("INVALID_CREDENTIALS");
    expect(ea.message).toBe(eb.message);
  });

  it("login with the right password starts a new session", async () => {
    const res = await signup();
    const again = await callerFor(t.auth).auth.login({ email: res.user.email, password });
    expect(again.user.id).toBe(res.user.id);
    expect(again.sessionId).not.toBe(res.sessionId);
  });

  it("a duplicate signup, also in other case and with spaces, gets EMAIL_TAKEN", async () => {
    const email = `dup-${randomUUID()}@example.com`;
    await signUp(t.auth, { email, password });
    expect(await reasonOf(callerFor(t.auth).auth.signup({ email, password }))).toBe("EMAIL_TAKEN");
    expect(await reasonOf(callerFor(t.auth).auth.signup({ email: `  ${email.toUpperCase()} `, password }))).toBe("EMAIL_TAKEN");
    const login = await callerFor(t.auth).auth.login({ email: ` ${email.toUpperCase()}`, password });
    expect(login.user.email).toBe(email);
  });

  it("bad input gets VALIDATION_FAILED with the issues", async () => {
    for (const input of [
      { email: "not-an-email", password },
      { email: "a@b.co", password: "short" },
      { email: `${"a".repeat(10_000)}@example.com`, password },
      { email: "nul\u0000@example.com", password },
      { email: 42, password },
      { email: "x@example.com", password, deviceName: "x".repeat(101) },
    ]) {
      expect(await reasonOf(callerFor(t.auth).auth.signup(input as never))).toBe("VALIDATION_FAILED");
    }
  });
});

describe("refresh rotation", () => {
  it("returns a new pair with a different refresh token", async () => {
    const res = await signup();
    const next = await callerFor(t.auth).auth.refresh({ refreshToken: res.refreshToken });
    expect(next.refreshToken).not.toBe(res.refreshToken);
    expect(next.sessionId).toBe(res.sessionId);
    expect((await callerFor(t.auth, next.accessToken).auth.me()).user.id).toBe(res.user.id);
  });

  it("replaying the rotated token within the grace window returns the same successor", async () => {
    const res = await signup();
    const first = await callerFor(t.auth).auth.refresh({ refreshToken: res.refreshToken });
    clock.advance(5_000);
    const retry = await callerFor(t.auth).auth.refresh({ refreshToken: res.refreshToken });
    expect(retry.refreshToken).toBe(first.refreshToken);
    // The successor is still the one live token and rotates normally.
    const after = await callerFor(t.auth).auth.refresh({ refreshToken: retry.refreshToken });
    expect(after.refreshToken).not.toBe(first.refreshToken);
  });

  it("replaying a rotated token after the grace window revokes the session", async () => {
    const res = await signup();
    const first = await callerFor(t.auth).auth.refresh({ refreshToken: res.refreshToken });
    clock.advance(10_001);
    expect(await reasonOf(callerFor(t.auth).auth.refresh({ refreshToken: res.refreshToken }))).toBe("REFRESH_TOKEN_REUSED");
    // The revocation committed although the call failed: the newest token and the access token are dead too.
    expect(await reasonOf(callerFor(t.auth).auth.refresh({ refreshToken: first.refreshToken }))).toBe("REFRESH_TOKEN_REVOKED");
    expect(await reasonOf(callerFor(t.auth, first.accessToken).auth.me())).toBe("SESSION_REVOKED");
  });

  it("an older ancestor gets no grace, even within the window", async () => {
    const res = await signup();
    const first = await callerFor(t.auth).auth.refresh({ refreshToken: res.refreshToken });
    await callerFor(t.auth).auth.refresh({ refreshToken: first.refreshToken });
    expect(await reasonOf(callerFor(t.auth).auth.refresh({ refreshToken: res.refreshToken }))).toBe("REFRESH_TOKEN_REUSED");
  });

  it("20 concurrent refreshes of one token: no theft detected, one live successor", async () => {
    const res = await signup();
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, () => callerFor(t.auth).auth.refresh({ refreshToken: res.refreshToken })),
    );
    const ok = results.filter((r) => r.status === "fulfilled").map((r) => r.value);
    expect(ok).toHaveLength(20);
    expect(new Set(ok.map((r) => r.refreshToken)).size).toBe(1);
    const live = await t.database.db
      .select({ id: refreshTokens.id })
      .from(refreshTokens)
      .where(and(eq(refreshTokens.sessionId, res.sessionId), isNull(refreshTokens.rotatedAt), isNull(refreshTokens.revokedAt)));
    expect(live).toHaveLength(1);
  });

  it("a refresh token past its idle limit is refused", async () => {
    const res = await signup();
    clock.advance(t.auth.settings.refreshTokenTtlMs + 1);
    expect(await reasonOf(callerFor(t.auth).auth.refresh({ refreshToken: res.refreshToken }))).toBe("REFRESH_TOKEN_EXPIRED");
  });

  it("a session past its absolute limit is refused, however active", async () => {
    let { refreshToken } = await signup();
    const step = t.auth.settings.refreshTokenTtlMs - 60_000;
    for (let elapsed = 0; elapsed + step < t.auth.settings.sessionMaxAgeMs; elapsed += step) {
      clock.advance(step);
      ({ refreshToken } = await callerFor(t.auth).auth.refresh({ refreshToken }));
    }
    clock.advance(step);
    expect(await reasonOf(callerFor(t.auth).auth.refresh({ refreshToken }))).toBe("REFRESH_TOKEN_EXPIRED");
  });

  it("unknown, missing and oversized refresh tokens are refused with their reasons", async () => {
    expect(await reasonOf(callerFor(t.auth).auth.refresh({ refreshToken: "x".repeat(43) }))).toBe("REFRESH_TOKEN_INVALID");
    expect(await reasonOf(callerFor(t.auth).auth.refresh({}))).toBe("REFRESH_TOKEN_MISSING");
    expect(await reasonOf(callerFor(t.auth).auth.refresh({ refreshToken: "x".repeat(513) }))).toBe("VALIDATION_FAILED");
  });
});

describe("sessions", () => {
  it("two logins are two sessions, the current one marked; revoking the other kills only it", async () => {
    const a = await signup({ deviceName: "laptop" });
    const b = await callerFor(t.auth).auth.login({ email: a.user.email, password, deviceName: "phone" });
    const list = await callerFor(t.auth, a.accessToken).sessions.list();
    expect(list.map((s) => s.id).sort()).toEqual([a.sessionId, b.sessionId].sort());
    expect(list.find((s) => s.current)?.id).toBe(a.sessionId);
    expect(list.find((s) => !s.current)?.deviceName).toBe("phone");

    await callerFor(t.auth, a.accessToken).sessions.revoke({ sessionId: b.sessionId });
    expect(await reasonOf(callerFor(t.auth).auth.refresh({ refreshToken: b.refreshToken }))).toBe("REFRESH_TOKEN_REVOKED");
    expect(await reasonOf(callerFor(t.auth, b.accessToken).auth.me())).toBe("SESSION_REVOKED");
    expect((await callerFor(t.auth, a.accessToken).auth.me()).session.id).toBe(a.sessionId);
    await callerFor(t.auth).auth.refresh({ refreshToken: a.refreshToken });
  });

  it("a user cannot revoke another user's session: NOT_FOUND", async () => {
    const mine = await signup();
    const theirs = await signup();
    expect(await reasonOf(callerFor(t.auth, mine.accessToken).sessions.revoke({ sessionId: theirs.sessionId }))).toBe(
      "NOT_FOUND",
    );
    expect(await reasonOf(callerFor(t.auth, mine.accessToken).sessions.revoke({ sessionId: randomUUID() }))).toBe("NOT_FOUND");
    await callerFor(t.auth).auth.refresh({ refreshToken: theirs.refreshToken });
  });

  it("logout kills this session's refresh token", async () => {
    const a = await signup();
    expect(await callerFor(t.auth, a.accessToken).auth.logout()).toEqual({ ok: true });
    expect(await reasonOf(callerFor(t.auth).auth.refresh({ refreshToken: a.refreshToken }))).toBe("REFRESH_TOKEN_REVOKED");
    expect(await reasonOf(callerFor(t.auth, a.accessToken).auth.me())).toBe("SESSION_REVOKED");
  });

  it("logoutAll kills every session of the user", async () => {
    const a = await signup();
    const b = await callerFor(t.auth).auth.login({ email: a.user.email, password });
    const c = await callerFor(t.auth).auth.login({ email: a.user.email, password });
    expect(await callerFor(t.auth, a.accessToken).auth.logoutAll()).toEqual({ revokedSessions: 3 });
    for (const s of [a, b, c]) {
      expect(await reasonOf(callerFor(t.auth).auth.refresh({ refreshToken: s.refreshToken }))).toBe("REFRESH_TOKEN_REVOKED");
      expect(await reasonOf(callerFor(t.auth, s.accessToken).auth.me())).toBe("SESSION_REVOKED");
    }
  });
});
