import { createAdmin, deriveOneTimeToken, signAccessToken } from "@warden/auth";
import { createTestAuth, createTestClock, type TestAuth } from "@warden/auth/testing";
import { email, PASSWORD, startTestServer, type TestServer } from "@warden/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const clock = createTestClock(Date.now());
const ACCESS_TTL_MS = 15 * 60_000;
let t: TestAuth;
let server: TestServer;

beforeAll(async () => {
  t = await createTestAuth({ clock, settings: { accessTokenTtlMs: ACCESS_TTL_MS } });
  server = await startTestServer(t.auth);
});
afterAll(async () => {
  await server.close();
  await t.close();
});

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const reason = (res: { body: any }) => res.body?.error?.data?.reason as string | undefined;
const me = (token: string) => server.get("/trpc/auth.me", undefined, bearer(token));
const refresh = (refreshToken: string) => server.post("/trpc/auth.refresh", { refreshToken });

async function signupUser() {
  const e = email("race");
  const res = await server.post("/trpc/auth.signup", { email: e, password: PASSWORD });
  return { email: e, ...res.body.result.data };
}

/** After a revocation has returned, nothing of the session works, whatever won the race. */
async function expectSessionDead(pair: { accessToken: string; refreshToken: string }, refreshed: { status: number; body: any }) {
  expect(reason(await me(pair.accessToken))).toBe("SESSION_REVOKED");
  expect(reason(await refresh(pair.refreshToken))).toMatch(/^REFRESH_TOKEN_(REVOKED|REUSED)$/);
  if (refreshed.status === 200) {
    // The refresh won: its successor and its access token are dead too.
    const next = refreshed.body.result.data;
    expect(reason(await me(next.accessToken))).toBe("SESSION_REVOKED");
    expect(reason(await refresh(next.refreshToken))).toBe("REFRESH_TOKEN_REVOKED");
  } else {
    expect(reason(refreshed)).toBe("REFRESH_TOKEN_REVOKED");
  }
}

describe("clock skew around exp", () => {
  it("an access token works until the second before exp and is TOKEN_EXPIRED from exp on, with no leeway", async () => {
    const pair = await signupUser();
    const exp = pair.accessTokenExpiresAt;
    clock.set(exp - 1000);
    expect((await me(pair.accessToken)).status).toBe(200);
    clock.set(exp - 1);
    expect((await me(pair.accessToken)).status).toBe(200);
    clock.set(exp);
    expect(reason(await me(pair.accessToken))).toBe("TOKEN_EXPIRED");
    clock.set(exp + 5000);
    expect(reason(await me(pair.accessToken))).toBe("TOKEN_EXPIRED");
    // The refresh token outlives it: the client renews.
    const renewed = await refresh(pair.refreshToken);
    expect(renewed.status).toBe(200);
    expect((await me(renewed.body.result.data.accessToken)).status).toBe(200);
  });

  it("a token from an instance whose clock runs ahead is accepted until its own exp, never longer", async () => {
    const pair = await signupUser();
    // Signed by a peer whose clock is a minute ahead: iat is in our future.
    const future = signAccessToken(
      t.auth.keys,
      t.auth.settings,
      { userId: pair.user.id, sessionId: pair.sessionId, role: "user" },
      clock() + 60_000,
    );
    expect((await me(future.token)).status).toBe(200); // iat in our future is tolerated (skewed peer)
    clock.set(future.expiresAt - 1);
    expect((await me(future.token)).status).toBe(200);
    clock.set(future.expiresAt);
    expect(reason(await me(future.token))).toBe("TOKEN_EXPIRED");
  });
});

describe("revocation racing refresh", () => {
  it("logout racing a refresh of the same session: the session ends either way", async () => {
    for (let i = 0; i < 8; i++) {
      const pair = await signupUser();
      const [logout, refreshed] = await Promise.all([
        server.post("/trpc/auth.logout", {}, bearer(pair.accessToken)),
        refresh(pair.refreshToken),
      ]);
      expect(logout.status).toBe(200);
      await expectSessionDead(pair, refreshed);
    }
  });

  it("sessions.revoke from another device racing a refresh: the revoked session ends either way", async () => {
    for (let i = 0; i < 8; i++) {
      const pair = await signupUser();
      const other = (await server.post("/trpc/auth.login", { email: pair.email, password: PASSWORD })).body.result.data;
      const [revoke, refreshed] = await Promise.all([
        server.post("/trpc/sessions.revoke", { sessionId: pair.sessionId }, bearer(other.accessToken)),
        refresh(pair.refreshToken),
      ]);
      expect(revoke.status).toBe(200);
      await expectSessionDead(pair, refreshed);
      expect((await me(other.accessToken)).status).toBe(200);
    }
  });

  it("an admin revoking a user racing several concurrent refreshes: every session ends", async () => {
    const adminEmail = email("admin");
    await createAdmin(t.auth, adminEmail, PASSWORD);
    const admin = (await server.post("/trpc/auth.login", { email: adminEmail, password: PASSWORD })).body.result.data;
    const first = await signupUser();
    const pairs = [first];
    for (let i = 0; i < 3; i++)
      pairs.push({
        email: first.email,
        ...(await server.post("/trpc/auth.login", { email: first.email, password: PASSWORD })).body.result.data,
      });
    const [revoke, ...refreshes] = await Promise.all([
      server.post("/trpc/admin.revokeUser", { userId: first.user.id, reason: "race test" }, bearer(admin.accessToken)),
      ...pairs.map((p) => refresh(p.refreshToken)),
    ]);
    expect(revoke.status).toBe(200);
    for (const [i, p] of pairs.entries()) await expectSessionDead(p, refreshes[i]!);
  });
});

/**
 * Each order forced: the token row is held by a test transaction (the lock both sides take last),
 * so whichever side starts first stops holding its first lock (the session row, or the user and
 * session rows) while the other side starts and must queue behind it. Then the hold ends.
 */
describe("revocation and refresh, each order forced by a held row lock", () => {
  let adminToken: string;
  beforeAll(async () => {
    const adminEmail = email("admin");
    await createAdmin(t.auth, adminEmail, PASSWORD);
    adminToken = (await server.post("/trpc/auth.login", { email: adminEmail, password: PASSWORD })).body.result.data.accessToken;
  });

  type Pair = Awaited<ReturnType<typeof signupUser>>;
  const revocations: [string, (pair: Pair) => ReturnType<typeof refresh>][] = [
    ["logout", (pair) => server.post("/trpc/auth.logout", {}, bearer(pair.accessToken))],
    [
      "admin.revokeUser",
      (pair) =>
        server.post("/trpc/admin.revokeUser", { userId: pair.user.id, reason: "race test", lock: false }, bearer(adminToken)),
    ],
    [
      "auth.changePassword from another session",
      async (pair) => {
        const other = (await server.post("/trpc/auth.login", { email: pair.email, password: PASSWORD })).body.result.data;
        return server.post(
          "/trpc/auth.changePassword",
          { currentPassword: PASSWORD, newPassword: "a brand new passphrase" },
          bearer(other.accessToken),
        );
      },
    ],
    [
      "auth.resetPassword",
      async (pair) => {
        await server.post("/trpc/auth.requestPasswordReset", { email: pair.email });
        const [event] = await t.database.sql<{ id: string }[]>`
          select id from outbox_events where type = 'email.requested'
          and payload->>'userId' = ${pair.user.id} and payload->>'kind' = 'password_reset'`;
        const token = deriveOneTimeToken(t.auth.oneTimeKeys[0], event!.id);
        return server.post("/trpc/auth.resetPassword", { token, newPassword: "a brand new passphrase" });
      },
    ],
  ];

  /** Holds the session's refresh-token row FOR UPDATE in a transaction of the test's own. */
  async function holdTokenRow(sessionId: string) {
    const holder = await t.database.sql.reserve();
    await holder`begin`;
    await holder`select id from refresh_tokens where session_id = ${sessionId} for update`;
    return async () => {
      await holder`rollback`;
      holder.release();
    };
  }

  /** The backend that starts waiting for a lock (other than `known`), and the backends it waits for. */
  async function nextLockWaiter(known: number[]): Promise<{ pid: number; blockers: number[] }> {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const rows = await t.database.sql<{ pid: number; blockers: number[] }[]>`
        select pid, pg_blocking_pids(pid) as blockers from pg_stat_activity
        where datname = current_database() and wait_event_type = 'Lock'`;
      const waiter = rows.find((r) => !known.includes(r.pid));
      if (waiter) return waiter;
      if (Date.now() > deadline) throw new Error("no call started waiting for a lock");
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  for (const [name, revoke] of revocations) {
    it(`refresh first, then ${name}: the refresh rotates, the revocation waits for it and kills the successor too`, async () => {
      const pair = await signupUser();
      const release = await holdTokenRow(pair.sessionId);
      const refreshing = refresh(pair.refreshToken);
      const refresher = await nextLockWaiter([]); // holds the session row, waits for the token row
      const revoking = revoke(pair);
      const revoker = await nextLockWaiter([refresher.pid]);
      expect(revoker.blockers).toEqual([refresher.pid]);
      await release();

      const [refreshed, revoked] = await Promise.all([refreshing, revoking]);
      expect([refreshed.status, reason(refreshed)]).toEqual([200, undefined]);
      expect([revoked.status, reason(revoked)]).toEqual([200, undefined]);
      const next = refreshed.body.result.data;
      for (const token of [pair.accessToken, next.accessToken]) expect(reason(await me(token))).toBe("SESSION_REVOKED");
      expect(reason(await refresh(next.refreshToken))).toBe("REFRESH_TOKEN_REVOKED");
      expect(reason(await refresh(pair.refreshToken))).toBe("REFRESH_TOKEN_REVOKED");
    });

    it(`${name} first, then refresh: the refresh waits for the revocation and is REFRESH_TOKEN_REVOKED`, async () => {
      const pair = await signupUser();
      const release = await holdTokenRow(pair.sessionId);
      const revoking = revoke(pair);
      const revoker = await nextLockWaiter([]); // holds the user and session rows, waits for the token row
      const refreshing = refresh(pair.refreshToken);
      const refresher = await nextLockWaiter([revoker.pid]);
      expect(refresher.blockers).toEqual([revoker.pid]);
      await release();

      const [refreshed, revoked] = await Promise.all([refreshing, revoking]);
      expect([revoked.status, reason(revoked)]).toEqual([200, undefined]);
      expect([refreshed.status, reason(refreshed)]).toEqual([401, "REFRESH_TOKEN_REVOKED"]);
      expect(reason(await me(pair.accessToken))).toBe("SESSION_REVOKED");
      expect(reason(await refresh(pair.refreshToken))).toBe("REFRESH_TOKEN_REVOKED");
    });
  }
});
