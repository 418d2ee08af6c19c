import { randomUUID } from "node:crypto";
import { revocationEvent } from "@warden/contracts";
import { outboxEvents, users } from "@warden/db";
import { firstAcceptedIat, NOT_BEFORE_MARGIN_MS } from "@warden/access-token";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyAccessTokenCached } from "./access-tokens.js";
import { getCurrentSessionCached } from "./session-cache.js";
import { setUserRole } from "./roles.js";
import { rotateRefreshToken } from "./rotate.js";
import { createTestAuth, createTestClock, type TestAuth } from "./testing.js";
import { signup } from "./users.js";

/** Mid-second, so "earlier in the same second" exists: 2026-01-01T00:00:00.400Z. */
const clock = createTestClock(Date.UTC(2026, 0, 1) + 400);
let t: TestAuth;
const system = { type: "system" as const, id: null };

beforeAll(async () => {
  t = await createTestAuth({ clock });
  // An admin no test demotes: the others are never the last one (last-admin.ts).
  await newAdmin();
});
afterAll(() => t.close());

const check = (token: string) => verifyAccessTokenCached(t.auth, token);

const reasonOf = (fn: () => unknown) => {
  try {
    fn();
    return "ok";
  } catch (error) {
    return (error as { reason?: string }).reason;
  }
};

const claimsOf = (token: string) =>
  JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString()) as { iat: number; role: string };

async function newAdmin() {
  const res = await signup(t.auth, { email: `role-${randomUUID()}@example.com`, password: "correct horse battery" }, {});
  await t.database.db.update(users).set({ role: "admin" }).where(eq(users.id, res.user.id));
  return res;
}

/** Waits until some backend of the test database waits for a lock. */
async function somethingWaitsForALock(): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const [row] = await t.database.sql<{ n: number }[]>`
      select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`;
    if (row!.n > 0) return;
    if (Date.now() > deadline) throw new Error("nothing started waiting for a lock");
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("a refresh racing a demotion", () => {
  it("a refresh that read the admin role before a demotion committed does not carry it past the demotion's not-before", async () => {
    const admin = await newAdmin();
    const holder = await t.database.sql.reserve();
    try {
      // The rotation statement reads the role, then waits for the session row held here.
      await holder`begin`;
      await holder`select id from sessions where id = ${admin.sessionId} for update`;
      const refreshing = rotateRefreshToken(t.auth, admin.refreshToken);
      await somethingWaitsForALock();
      // Meanwhile the demotion commits, and this process hears of its not-before.
      await setUserRole(t.auth, { userId: admin.user.id, role: "user", reason: "demoted", actor: system });
      await holder`commit`;
      const renewed = await refreshing;
      // The statement read the role before the demotion committed: that token is refused.
      expect(claimsOf(renewed.accessToken).role).toBe("admin");
      expect(reasonOf(() => check(renewed.accessToken))).toBe("TOKEN_EXPIRED");
      // The client's next refresh reads the current role.
      const next = await rotateRefreshToken(t.auth, renewed.refreshToken);
      expect(claimsOf(next.accessToken).role).toBe("user");
      expect(reasonOf(() => check(next.accessToken))).toBe("ok");
    } finally {
      holder.release();
    }
  });
});

describe("setUserRole", () => {
  it("same second: a token issued earlier in the second of the demotion is refused, the one renewed right after is accepted", async () => {
    const before = await newAdmin();
    const old = await rotateRefreshToken(t.auth, before.refreshToken); // role admin, issued at .400
    expect(claimsOf(old.accessToken).role).toBe("admin");
    expect(reasonOf(() => check(old.accessToken))).toBe("ok");

    clock.advance(300); // .700: the same second as the old token's iat
    const demotedAt = clock();
    await setUserRole(t.auth, { userId: before.user.id, role: "user", reason: "demoted", actor: system });
    expect(reasonOf(() => check(old.accessToken))).toBe("TOKEN_EXPIRED");

    clock.advance(1); // .701: still the same second
    const renewed = await rotateRefreshToken(t.auth, old.refreshToken);
    const claims = claimsOf(renewed.accessToken);
    expect(claims.role).toBe("user");
    // The signer knew the not-before, so the renewed token is not refused with the old one.
    expect(claims.iat).toBe(firstAcceptedIat(demotedAt));
    expect(claims.iat * 1000).toBeGreaterThan(demotedAt);
    expect(reasonOf(() => check(renewed.accessToken))).toBe("ok");

    // Tokens signed within the margin without knowing the not-before (a role read before the
    // change) stay refused; none is refused once the margin has passed.
    const stale = (at: number) => Math.floor(at / 1000);
    expect(t.auth.revocations.issuedBeforeNotBefore(before.user.id, stale(demotedAt + NOT_BEFORE_MARGIN_MS - 1))).toBe(true);
    expect(t.auth.revocations.issuedBeforeNotBefore(before.user.id, stale(demotedAt + NOT_BEFORE_MARGIN_MS + 1000))).toBe(false);
  });

  it("the cached auth.me row does not outlive the not-before", async () => {
    const admin = await newAdmin();
    expect((await getCurrentSessionCached(t.auth, admin.sessionId))?.user.role).toBe("admin");
    await setUserRole(t.auth, { userId: admin.user.id, role: "user", reason: "demoted", actor: system });
    expect((await getCurrentSessionCached(t.auth, admin.sessionId))?.user.role).toBe("user");
  });

  it("writes the role, the not-before and a user.role_changed event in one transaction; the same role again changes nothing", async () => {
    const admin = await newAdmin();
    const at = clock();
    const { eventId } = await setUserRole(t.auth, { userId: admin.user.id, role: "user", reason: "demoted", actor: system });
    const [row] = await t.database.db
      .select({ role: users.role, notBefore: users.tokensNotBefore })
      .from(users)
      .where(eq(users.id, admin.user.id));
    expect(row).toEqual({ role: "user", notBefore: new Date(at) });
    const [outbox] = await t.database.db
      .select({ payload: outboxEvents.payload })
      .from(outboxEvents)
      .where(eq(outboxEvents.id, eventId!));
    expect(revocationEvent.parse(outbox!.payload)).toEqual({
      eventId,
      type: "user.role_changed",
      userId: admin.user.id,
      role: "user",
      reason: "demoted",
      actor: system,
      at,
    });
    expect(await setUserRole(t.auth, { userId: admin.user.id, role: "user", reason: "again", actor: system })).toEqual({
      eventId: null,
    });
  });

  it("an unknown user is NOT_FOUND", async () => {
    await expect(setUserRole(t.auth, { userId: randomUUID(), role: "user", reason: "x", actor: system })).rejects.toMatchObject({
      reason: "NOT_FOUND",
    });
  });
});
