import { randomUUID } from "node:crypto";
import { createTestClock } from "@warden/auth/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createWardenClient,
  isWardenError,
  memoryStore,
  type SignupResult,
  type WardenError,
  WardenSessionEndedError,
  webStorageStore,
} from "./node.js";
import { sessionOf, startCountingServer, type CountingServer } from "@warden/testing";

const password = "correct horse battery";
const email = () => `client-${randomUUID()}@example.com`;
const MINUTE = 60_000;

// Server and client share a test clock: "the access token expires" is a clock move, not a sleep.
const clock = createTestClock(Date.now());
let s: CountingServer;

beforeAll(async () => {
  s = await startCountingServer({ clock });
});
afterAll(async () => {
  await s.close();
});

function newClient(now: () => number = clock) {
  const store = memoryStore();
  const warden = createWardenClient({ url: s.url, store, now });
  return { warden, store };
}

describe("@warden/client against a running server", () => {
  it("signup, call, access token expires, next call renews silently", async () => {
    const { warden, store } = newClient();
    const signed = await sessionOf(warden.signup({ email: email(), password, deviceName: "laptop" }));
    expect(await warden.isSignedIn()).toBe(true);
    const me = await warden.api.auth.me.query();
    expect(me.user).toEqual(signed.user);
    const before = s.requests("auth.refresh");

    clock.advance(16 * MINUTE); // past the 15-minute access token
    const again = await warden.api.auth.me.query();
    expect(again.user.id).toBe(signed.user.id);
    expect(s.requests("auth.refresh")).toBe(before + 1);
    const stored = await store.get();
    expect(stored?.accessToken).not.toBe(signed.accessToken);
    expect(stored?.refreshToken).not.toBe(signed.refreshToken);
    expect(stored?.user).toEqual(signed.user);
  });

  it("renews ahead of expiry, within the margin", async () => {
    const { warden } = newClient();
    await warden.signup({ email: email(), password });
    const before = s.requests("auth.refresh");
    clock.advance(15 * MINUTE - 10_000); // 10 s left, margin is 30 s
    await warden.api.auth.me.query();
    expect(s.requests("auth.refresh")).toBe(before + 1);
  });

  it("50 concurrent calls with an expired access token cause exactly one refresh request", async () => {
    const { warden } = newClient();
    const signed = await sessionOf(warden.signup({ email: email(), password }));
    clock.advance(16 * MINUTE);
    const before = s.requests("auth.refresh");
    const results = await Promise.all(Array.from({ length: 50 }, () => warden.api.auth.me.query()));
    expect(results.every((r) => r.user.id === signed.user.id)).toBe(true);
    expect(s.requests("auth.refresh")).toBe(before + 1);
  });

  it("batched queries with large inputs are split across requests, each getting its own answer", async () => {
    const { warden } = newClient();
    await warden.signup({ email: email(), password });
    const results = await Promise.allSettled(
      Array.from({ length: 40 }, (_, i) => warden.api.admin.users.find.query({ email: `${"x".repeat(1000)}${i}@example.com` })),
    );
    // Not an admin: every one is refused individually, none fails as a too-long request.
    expect(results.every((r) => r.status === "rejected" && isWardenError(r.reason, "FORBIDDEN"))).toBe(true);
  });

  it("a call the server refuses as TOKEN_EXPIRED is renewed once and replayed (client clock behind)", async () => {
    // The client's clock stays put while the server's moves on: only the server knows it expired.
    const clientNow = clock();
    const { warden } = newClient(() => clientNow);
    const signed = await sessionOf(warden.signup({ email: email(), password }));
    clock.advance(16 * MINUTE);
    const before = s.requests("auth.refresh");
    const results = await Promise.all(Array.from({ length: 50 }, () => warden.api.auth.me.query()));
    expect(results.every((r) => r.user.id === signed.user.id)).toBe(true);
    expect(s.requests("auth.refresh")).toBe(before + 1);
  });

  it("clients sharing one store share its renewal", async () => {
    const store = memoryStore();
    const a = createWardenClient({ url: s.url, store, now: clock });
    const b = createWardenClient({ url: s.url, store, now: clock });
    await a.signup({ email: email(), password });
    clock.advance(16 * MINUTE);
    const before = s.requests("auth.refresh");
    await Promise.all([a.api.auth.me.query(), b.api.auth.me.query(), a.refresh(), b.refresh()]);
    expect(s.requests("auth.refresh")).toBe(before + 1);
  });

  it("after an admin revocation: session-ended once with SESSION_REVOKED, store cleared, later calls fail fast", async () => {
    const admin = createWardenClient({ url: s.url, store: memoryStore(), now: clock });
    await admin.login(await s.makeAdmin());
    const { warden, store } = newClient();
    const signed = await sessionOf(warden.signup({ email: email(), password }));
    const events: unknown[] = [];
    warden.onSessionEnded((e) => events.push(e));

    await admin.api.admin.revokeUser.mutate({ userId: signed.user.id, reason: "compromised laptop" });

    const failures = await Promise.allSettled(Array.from({ length: 5 }, () => warden.api.sessions.list.query()));
    for (const f of failures) {
      expect(f.status).toBe("rejected");
      const error = (f as PromiseRejectedResult).reason;
      expect(error).toBeInstanceOf(WardenSessionEndedError);
      expect(error.reason).toBe("SESSION_REVOKED");
    }
    expect(events).toEqual([{ reason: "SESSION_REVOKED", sessionId: signed.sessionId }]);
    expect(await store.get()).toBeNull();
    expect(await warden.isSignedIn()).toBe(false);

    const requestsBefore = s.totalRequests();
    const later = warden.api.auth.me.query();
    await expect(later).rejects.toBeInstanceOf(WardenSessionEndedError);
    await expect(later).rejects.toMatchObject({ reason: "SESSION_REVOKED", status: 401 });
    expect(s.totalRequests()).toBe(requestsBefore); // failed fast: nothing sent
    expect(events).toHaveLength(1);
  });

  it("a revoked session whose access token has expired ends with REFRESH_TOKEN_REVOKED at renewal", async () => {
    const admin = createWardenClient({ url: s.url, store: memoryStore(), now: clock });
    await admin.login(await s.makeAdmin());
    const { warden, store } = newClient();
    const signed = await sessionOf(warden.signup({ email: email(), password }));
    const reasons: string[] = [];
    warden.onSessionEnded(({ reason }) => reasons.push(reason));
    await admin.api.admin.revokeUser.mutate({ userId: signed.user.id, reason: "stolen", lock: true });
    clock.advance(16 * MINUTE);
    await admin.refresh(); // keep the admin's own session going

    const error = await warden.api.auth.me.query().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WardenSessionEndedError);
    expect((error as WardenSessionEndedError).reason).toBe("REFRESH_TOKEN_REVOKED");
    expect(reasons).toEqual(["REFRESH_TOKEN_REVOKED"]);
    expect(await store.get()).toBeNull();
  });

  it("a client whose session ended leaves alone the session another tab signed in with since", async () => {
    const items = new Map<string, string>();
    const storage = {
      getItem: (k: string) => items.get(k) ?? null,
      setItem: (k: string, v: string) => void items.set(k, v),
      removeItem: (k: string) => void items.delete(k),
    };
    const credentials = { email: email(), password };
    const oldTab = createWardenClient({ url: s.url, store: webStorageStore(storage), now: clock });
    const first = await sessionOf(oldTab.signup(credentials));
    await oldTab.api.auth.me.query();
    const newTab = createWardenClient({ url: s.url, store: webStorageStore(storage), now: clock });
    const second = await newTab.login(credentials);
    const ended: string[] = [];
    oldTab.onSessionEnded(({ reason }) => ended.push(reason));
    await newTab.api.sessions.revoke.mutate({ sessionId: first.sessionId });

    // The old tab still holds the first session's access token: the server refuses it.
    await expect(oldTab.api.auth.me.query()).rejects.toMatchObject({ reason: "SESSION_REVOKED" });
    expect(ended).toEqual(["SESSION_REVOKED"]);
    expect(JSON.parse(items.get("warden.session")!).sessionId).toBe(second.sessionId);
    expect((await newTab.api.auth.me.query()).session.id).toBe(second.sessionId);
  });

  it("a refresh token used by a thief first ends the session with REFRESH_TOKEN_REUSED", async () => {
    const { warden, store } = newClient();
    const signed = await sessionOf(warden.signup({ email: email(), password }));
    const reasons: string[] = [];
    warden.onSessionEnded(({ reason }) => reasons.push(reason));
    const stolen = await s.server.post("/trpc/auth.refresh", { refreshToken: signed.refreshToken });
    expect(stolen.status).toBe(200);
    clock.advance(16 * MINUTE); // well past the reuse grace
    await expect(warden.api.auth.me.query()).rejects.toMatchObject({ reason: "REFRESH_TOKEN_REUSED" });
    expect(reasons).toEqual(["REFRESH_TOKEN_REUSED"]);
    expect(await store.get()).toBeNull();
  });

  it("signing in again after the session ended starts a fresh session", async () => {
    const { warden } = newClient();
    const credentials = { email: email(), password };
    await warden.signup(credentials);
    await warden.api.auth.logoutAll.mutate({});
    await expect(warden.api.auth.me.query()).rejects.toMatchObject({ reason: "SESSION_REVOKED" });
    await warden.login(credentials);
    expect((await warden.api.auth.me.query()).user.email).toBe(credentials.email);
  });

  it("failed calls reject with a typed WardenError carrying the reason", async () => {
    const { warden } = newClient();
    const credentials = { email: email(), password };
    await warden.signup(credentials);
    const taken = await warden.signup(credentials).catch((e: unknown) => e);
    expect(isWardenError(taken, "EMAIL_TAKEN")).toBe(true);
    expect((taken as WardenError).status).toBe(409);

    const invalid = await warden.signup({ email: "not an email", password }).catch((e: unknown) => e);
    expect(isWardenError(invalid, "VALIDATION_FAILED")).toBe(true);
    expect((invalid as WardenError).issues?.length).toBeGreaterThan(0);

    const forbidden = await warden.api.admin.audit.query({}).catch((e: unknown) => e);
    expect(isWardenError(forbidden, "FORBIDDEN")).toBe(true);

    const anonymous = createWardenClient({ url: s.url, store: memoryStore() });
    await expect(anonymous.api.auth.me.query()).rejects.toMatchObject({ reason: "TOKEN_MISSING" });
  });

  it("an unreachable server is UNAVAILABLE", async () => {
    const warden = createWardenClient({ url: "http://127.0.0.1:9", store: memoryStore() });
    const error = await warden.api.health.query().catch((e: unknown) => e);
    expect(isWardenError(error, "UNAVAILABLE")).toBe(true);
  });

  it("a renewal that cannot reach the server is UNAVAILABLE and keeps the session for the next try", async () => {
    let down = false;
    const flaky: typeof fetch = (input, init) => (down ? Promise.reject(new TypeError("fetch failed")) : fetch(input, init));
    const store = memoryStore();
    const warden = createWardenClient({ url: s.url, store, now: clock, fetch: flaky });
    const events: unknown[] = [];
    warden.onSessionEnded((e) => events.push(e));
    await warden.signup({ email: email(), password });
    clock.advance(16 * MINUTE);
    down = true;
    await expect(warden.api.auth.me.query()).rejects.toMatchObject({ reason: "UNAVAILABLE" });
    expect(await store.get()).not.toBeNull();
    down = false;
    await expect(warden.api.auth.me.query()).resolves.toBeDefined();
    expect(events).toEqual([]);
  });

  it("logout ends the session at the server and clears the store, without a session-ended event", async () => {
    const { warden, store } = newClient();
    await warden.signup({ email: email(), password });
    const events: unknown[] = [];
    warden.onSessionEnded((e) => events.push(e));
    const token = (await store.get())!.accessToken;
    await warden.logout();
    expect(await store.get()).toBeNull();
    expect(events).toEqual([]);
    const res = await s.server.get("/trpc/auth.me", undefined, { authorization: `Bearer ${token}` });
    expect(res.body.error.data.reason).toBe("SESSION_REVOKED");
  });
});

describe("public procedures and signup without a session", () => {
  /** A token of the right shape that no email ever carried. */
  const UNKNOWN_TOKEN = "x".repeat(43);

  /** A fetch that remembers which procedures each request called and whether it carried a bearer token. */
  function recordingFetch() {
    const sent: { path: string; bearer: boolean }[] = [];
    const record: typeof fetch = (input, init) => {
      const path = new URL(String(input instanceof Request ? input.url : input)).pathname.replace(/^\/trpc\//, "");
      const headers = new Headers(init?.headers);
      sent.push({ path, bearer: headers.has("authorization") });
      return fetch(input, init);
    };
    return { sent, fetch: record };
  }

  it("are sent without an access token and never renew it, even when it has expired", async () => {
    const recorded = recordingFetch();
    const warden = createWardenClient({ url: s.url, store: memoryStore(), now: clock, fetch: recorded.fetch });
    const credentials = { email: email(), password };
    await warden.signup(credentials);
    clock.advance(16 * MINUTE); // the access token has expired: a protected call would renew first
    const refreshes = s.requests("auth.refresh");
    recorded.sent.length = 0;

    await expect(warden.api.auth.requestPasswordReset.mutate({ email: credentials.email })).resolves.toEqual({ ok: true });
    await expect(
      warden.api.auth.resetPassword.mutate({ token: UNKNOWN_TOKEN, newPassword: "a brand new passphrase" }),
    ).rejects.toMatchObject({ reason: "ONE_TIME_TOKEN_INVALID", status: 400 });
    await expect(warden.api.auth.verifyEmail.mutate({ token: UNKNOWN_TOKEN })).rejects.toMatchObject({
      reason: "ONE_TIME_TOKEN_INVALID",
    });
    await expect(warden.api.health.query()).resolves.toMatchObject({ db: expect.any(String) });

    expect(s.requests("auth.refresh")).toBe(refreshes);
    expect(recorded.sent.map((r) => r.path)).toEqual([
      "auth.requestPasswordReset",
      "auth.resetPassword",
      "auth.verifyEmail",
      "health",
    ]);
    expect(recorded.sent.every((r) => !r.bearer)).toBe(true);
    // The session is still there for the next protected call (renewed then).
    await expect(warden.api.auth.me.query()).resolves.toMatchObject({ user: { email: credentials.email } });
    expect(s.requests("auth.refresh")).toBe(refreshes + 1);
  });

  it("work signed out and after the session ended (a reset requested from a revoked browser)", async () => {
    const signedOut = createWardenClient({ url: s.url, store: memoryStore() });
    const credentials = { email: email(), password };
    await expect(signedOut.api.auth.requestPasswordReset.mutate({ email: credentials.email })).resolves.toEqual({ ok: true });

    const { warden } = newClient();
    await warden.signup(credentials);
    await warden.api.auth.logoutAll.mutate({});
    await expect(warden.api.auth.me.query()).rejects.toBeInstanceOf(WardenSessionEndedError);
    // Protected calls fail fast from now on; the public ones still reach the server.
    await expect(warden.api.sessions.list.query()).rejects.toBeInstanceOf(WardenSessionEndedError);
    await expect(warden.api.auth.requestPasswordReset.mutate({ email: credentials.email })).resolves.toEqual({ ok: true });
    await expect(warden.api.auth.verifyEmail.mutate({ token: UNKNOWN_TOKEN })).rejects.toMatchObject({
      reason: "ONE_TIME_TOKEN_INVALID",
    });
  });

  it("changePassword is typed and keeps this session: the client goes on with its tokens", async () => {
    const { warden, store } = newClient();
    const credentials = { email: email(), password };
    await warden.signup(credentials);
    const other = newClient();
    await other.warden.login(credentials);
    const before = await store.get();
    const result: { ok: true; revokedSessions: number } = await warden.api.auth.changePassword.mutate({
      currentPassword: password,
      newPassword: "a brand new passphrase",
    });
    expect(result).toEqual({ ok: true, revokedSessions: 1 });
    expect((await store.get())?.sessionId).toBe(before?.sessionId);
    await expect(warden.api.auth.me.query()).resolves.toMatchObject({ user: { email: credentials.email } });
    await expect(other.warden.api.auth.me.query()).rejects.toMatchObject({ reason: "SESSION_REVOKED" });
  });

  it("a signup that must verify its email first stores no tokens and says so in its type", async () => {
    const strict = await startCountingServer({ settings: { requireVerifiedEmail: true } });
    try {
      const store = memoryStore();
      const warden = createWardenClient({ url: strict.url, store });
      const credentials = { email: email(), password };
      const result: SignupResult = await warden.signup(credentials);
      if (!("verificationRequired" in result)) throw new Error("expected verificationRequired");
      // @ts-expect-error: an answer without a session has no tokens to read
      expect(result.accessToken).toBeUndefined();
      expect(result).toEqual({
        verificationRequired: true,
        user: expect.objectContaining({ email: credentials.email, emailVerified: false }),
      });
      expect(await store.get()).toBeNull();
      expect(await warden.isSignedIn()).toBe(false);
      expect(strict.requests("auth.refresh")).toBe(0);
      await expect(warden.login(credentials)).rejects.toMatchObject({ reason: "EMAIL_UNVERIFIED", status: 403 });
      expect(await store.get()).toBeNull();
    } finally {
      await strict.close();
    }
  });
});
