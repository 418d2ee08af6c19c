import { randomUUID } from "node:crypto";
import { sessions, users } from "@warden/db";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { BoundedCache } from "./bounded-cache.js";
import { verifyAccessTokenCached } from "./access-tokens.js";
import { getCurrentSessionCached } from "./session-cache.js";
import { getCurrentSession, type CurrentSession } from "./sessions.js";
import { revokeSession } from "./revoke.js";
import { createAuth } from "./context.js";
import { createTestAuth, createTestClock, type TestAuth } from "./testing.js";
import { signup } from "./users.js";

const clock = createTestClock();
let t: TestAuth;

beforeAll(async () => {
  t = await createTestAuth({ clock });
});
afterAll(() => t.close());

async function newUser() {
  return signup(t.auth, { email: `hot-${randomUUID()}@example.com`, password: "correct horse battery" }, {});
}

const reasonOf = (fn: () => unknown) => {
  try {
    fn();
    return "ok";
  } catch (error) {
    return (error as { reason?: string }).reason;
  }
};

describe("verified-token cache", () => {
  const check = (token: string) => verifyAccessTokenCached(t.auth, token);

  it("a token seen before is still refused once its session is revoked", async () => {
    const res = await newUser();
    expect(check(res.accessToken).sid).toBe(res.sessionId);
    t.auth.revocations.add([res.sessionId], clock() + 60_000);
    expect(reasonOf(() => check(res.accessToken))).toBe("SESSION_REVOKED");
  });

  it("a token seen before is refused as expired after its exp", async () => {
    const res = await newUser();
    expect(reasonOf(() => check(res.accessToken))).toBe("ok");
    expect(t.auth.tokenCache.get(res.accessToken, clock())?.sid).toBe(res.sessionId);
    clock.advance(t.auth.settings.accessTokenTtlMs + 1000);
    expect(reasonOf(() => check(res.accessToken))).toBe("TOKEN_EXPIRED");
    expect(t.auth.tokenCache.get(res.accessToken, clock())).toBeUndefined();
  });

  it("a token differing from a cached one by one character is checked in full and refused", async () => {
    const res = await newUser();
    expect(reasonOf(() => check(res.accessToken))).toBe("ok");
    const last = res.accessToken.at(-2) === "A" ? "B" : "A";
    const tampered = `${res.accessToken.slice(0, -2)}${last}${res.accessToken.at(-1)}`;
    expect(reasonOf(() => check(tampered))).toBe("TOKEN_INVALID");
  });
});

describe("current-session cache", () => {
  it("answers from memory within the TTL, then reads the database again", async () => {
    const res = await newUser();
    expect((await getCurrentSessionCached(t.auth, res.sessionId))?.user.email).toBe(res.user.email);
    const renamed = `renamed-${randomUUID()}@example.com`;
    await t.database.db.update(users).set({ email: renamed }).where(eq(users.id, res.user.id));
    expect((await getCurrentSessionCached(t.auth, res.sessionId))?.user.email).toBe(res.user.email);
    clock.advance(t.auth.settings.sessionCacheTtlMs);
    expect((await getCurrentSessionCached(t.auth, res.sessionId))?.user.email).toBe(renamed);
  });

  it("a row asked for in the last quarter of its TTL is read again in the background; one nobody asks for expires", async () => {
    const ttl = t.auth.settings.sessionCacheTtlMs;
    const active = await newUser();
    const idle = await newUser();
    expect((await getCurrentSessionCached(t.auth, active.sessionId))?.user.email).toBe(active.user.email);
    expect((await getCurrentSessionCached(t.auth, idle.sessionId))?.user.email).toBe(idle.user.email);
    const renamed = `renamed-${randomUUID()}@example.com`;
    await t.database.db.update(users).set({ email: renamed }).where(eq(users.id, active.user.id));

    clock.advance(ttl * 0.8);
    // Answered at once from memory (no promise), while the row is read again.
    const early = getCurrentSessionCached(t.auth, active.sessionId);
    expect(early instanceof Promise).toBe(false);
    expect((early as CurrentSession).user.email).toBe(active.user.email);
    await vi.waitFor(() => {
      const now = getCurrentSessionCached(t.auth, active.sessionId);
      expect(now instanceof Promise ? "a read" : now?.user.email).toBe(renamed);
    });

    // Past the first row's TTL: the active session is still answered from memory, the idle one is read.
    clock.advance(ttl * 0.3);
    expect(getCurrentSessionCached(t.auth, active.sessionId) instanceof Promise).toBe(false);
    expect(getCurrentSessionCached(t.auth, idle.sessionId) instanceof Promise).toBe(true);
  });

  it("a background read that finds the session revoked drops the cached row", async () => {
    const res = await newUser();
    expect((await getCurrentSessionCached(t.auth, res.sessionId))?.revoked).toBe(false);
    // Revoked in the database only: as if this process had not heard of it yet.
    await t.database.sql`update sessions set revoked_at = now() where id = ${res.sessionId}`;
    clock.advance(t.auth.settings.sessionCacheTtlMs * 0.8);
    expect((getCurrentSessionCached(t.auth, res.sessionId) as CurrentSession).revoked).toBe(false);
    await vi.waitFor(() => expect(getCurrentSessionCached(t.auth, res.sessionId) instanceof Promise).toBe(true));
    expect((await getCurrentSessionCached(t.auth, res.sessionId))?.revoked).toBe(true);
  });

  it("is a field of the Auth context: another Auth over the same database has its own", async () => {
    const res = await newUser();
    const other = createAuth({ db: t.database.db, keys: t.auth.keys, settings: t.auth.settings, clock });
    expect((await getCurrentSessionCached(t.auth, res.sessionId))?.revoked).toBe(false);
    other.revocations.add([res.sessionId], clock() + 60_000);
    await t.database.sql`update sessions set revoked_at = now() where id = ${res.sessionId}`;
    // Only this Auth's revocation set evicts this Auth's rows.
    expect((await getCurrentSessionCached(t.auth, res.sessionId))?.revoked).toBe(false);
    expect((await getCurrentSessionCached(other, res.sessionId))?.revoked).toBe(true);
    other.revocations.close();
  });

  it("a revocation reaching this process drops the cached session at once", async () => {
    const res = await newUser();
    expect((await getCurrentSessionCached(t.auth, res.sessionId))?.revoked).toBe(false);
    // Revoked elsewhere: the database says so, and the feed tells this process's revocation set.
    await t.database.sql`update sessions set revoked_at = now() where id = ${res.sessionId}`;
    t.auth.revocations.add([res.sessionId], clock() + 60_000);
    expect((await getCurrentSessionCached(t.auth, res.sessionId))?.revoked).toBe(true);
  });

  it("revoked sessions are never cached", async () => {
    const res = await newUser();
    await t.database.sql`update sessions set revoked_at = now() where id = ${res.sessionId}`;
    expect((await getCurrentSessionCached(t.auth, res.sessionId))?.revoked).toBe(true);
    await t.database.sql`update sessions set revoked_at = null where id = ${res.sessionId}`;
    expect((await getCurrentSessionCached(t.auth, res.sessionId))?.revoked).toBe(false);
  });
});

describe("session reads", () => {
  it("reads that arrive together share a statement, each answered with its own rows", async () => {
    const signedUp = await Promise.all(Array.from({ length: 24 }, () => newUser()));
    const revoked = signedUp[3]!;
    await revokeSession(t.auth, {
      sessionId: revoked.sessionId,
      reason: "test",
      actor: { type: "user", id: revoked.user.id },
    });
    const unsafe = vi.spyOn(t.auth.db.$client, "unsafe");
    try {
      const asked = [...signedUp.map((s) => s.sessionId), randomUUID(), "not-a-session-id", signedUp[0]!.sessionId];
      const read = await Promise.all(asked.map((id) => getCurrentSession(t.auth, id)));
      // At most one statement per slot for the first arrivals, then the rest together.
      expect(unsafe.mock.calls.length).toBeLessThanOrEqual(6);
      for (const [i, s] of signedUp.entries()) {
        expect(read[i]).toEqual({
          user: { ...s.user, createdAt: s.user.createdAt },
          session: { id: s.sessionId, createdAt: expect.any(Number), expiresAt: expect.any(Number) },
          revoked: i === 3,
        });
      }
      expect(read[24]).toBeUndefined();
      expect(read[25]).toBeUndefined();
      expect(read[26]).toEqual(read[0]);
    } finally {
      unsafe.mockRestore();
    }
  });

  it("carries the times Date#getTime gives for the rows, in milliseconds", async () => {
    const s = await newUser();
    // As drizzle reads them (Date objects), which is what the answer carried before.
    const [row] = await t.auth.db
      .select({ created: sessions.createdAt, expires: sessions.expiresAt, user_created: users.createdAt })
      .from(sessions)
      .innerJoin(users, eq(users.id, sessions.userId))
      .where(eq(sessions.id, s.sessionId));
    const read = await getCurrentSession(t.auth, s.sessionId);
    expect(read?.session).toEqual({ id: s.sessionId, createdAt: row!.created.getTime(), expiresAt: row!.expires.getTime() });
    expect(read?.user.createdAt).toBe(row!.user_created.getTime());
  });
});

describe("BoundedCache", () => {
  it("keeps at most its size, dropping the oldest entry first", () => {
    const cache = new BoundedCache<string, number>(2);
    cache.set("a", 1, 100);
    cache.set("b", 2, 100);
    cache.set("c", 3, 100);
    expect(cache.size).toBe(2);
    expect(cache.get("a", 0)).toBeUndefined();
    expect(cache.get("c", 0)).toBe(3);
  });

  it("forgets an entry at its expiry", () => {
    const cache = new BoundedCache<string, number>(10);
    cache.set("a", 1, 100);
    expect(cache.get("a", 99)).toBe(1);
    expect(cache.get("a", 100)).toBeUndefined();
    expect(cache.size).toBe(0);
  });
});
