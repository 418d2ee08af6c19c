import { randomUUID } from "node:crypto";
import { createAdmin, createAuth, type Auth } from "@warden/auth";
import { createTestAuth, TEST_AUDIENCE, TEST_ISSUER, type TestAuth } from "@warden/auth/testing";
import { outboxEvents, users } from "@warden/db";
import { count, desc, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { callerFor, reasonOf, signUp } from "../testing.js";

let t: TestAuth;
const password = "correct horse battery";
let adminToken: string;

beforeAll(async () => {
  t = await createTestAuth();
  await createAdmin(t.auth, "root@example.com", password);
  adminToken = (await callerFor(t.auth).auth.login({ email: "root@example.com", password })).accessToken;
});
afterAll(() => t.close());

async function newUser() {
  const email = `u-${randomUUID()}@example.com`;
  return { email, ...(await signUp(t.auth, { email, password })) };
}

/** Every admin procedure, each called with a valid input and with garbage (on instance `auth`, the test's own by default). */
function everyAdminCall(token: string | undefined, target: { userId: string; sessionId: string }, auth: Auth = t.auth) {
  const admin = callerFor(auth, token).admin;
  const garbage = { nonsense: true } as never;
  return {
    "users.find": () => admin.users.find({ userId: target.userId }),
    "users.find (garbage)": () => admin.users.find(garbage),
    "users.list": () => admin.users.list({}),
    "users.list (garbage)": () => admin.users.list({ limit: "all" } as never),
    unlockUser: () => admin.unlockUser({ userId: target.userId, reason: "x" }),
    "unlockUser (garbage)": () => admin.unlockUser(garbage),
    setRole: () => admin.setRole({ userId: target.userId, role: "admin", reason: "x" }),
    "setRole (garbage)": () => admin.setRole({ userId: target.userId, role: "root", reason: "x" } as never),
    deleteUser: () => admin.deleteUser({ userId: target.userId, reason: "x" }),
    "deleteUser (garbage)": () => admin.deleteUser(garbage),
    revokeUser: () => admin.revokeUser({ userId: target.userId, reason: "x" }),
    "revokeUser (garbage)": () => admin.revokeUser(garbage),
    revokeSession: () => admin.revokeSession({ sessionId: target.sessionId, reason: "x" }),
    "revokeSession (garbage)": () => admin.revokeSession(garbage),
    revocation: () => admin.revocation({ eventId: randomUUID() }),
    "revocation (garbage)": () => admin.revocation(garbage),
    audit: () => admin.audit({}),
    "audit (garbage)": () => admin.audit({ limit: -5 } as never),
  };
}

/** What a refused admin call must not have written: the target's row as it was, and no outbox event. */
async function stateOf(userId: string) {
  const [user] = await t.database.db
    .select({ role: users.role, lockedAt: users.lockedAt, deletedAt: users.deletedAt, email: users.email })
    .from(users)
    .where(eq(users.id, userId));
  const [events] = await t.database.db.select({ n: count() }).from(outboxEvents);
  return { user, events: events!.n };
}

describe("admin authorization", () => {
  it("a non-admin gets FORBIDDEN on every admin procedure, whatever the input, and nothing is revoked, changed or deleted", async () => {
    const caller = await newUser();
    const victim = await newUser();
    const before = await stateOf(victim.user.id);
    for (const [name, call] of Object.entries(
      everyAdminCall(caller.accessToken, { userId: victim.user.id, sessionId: victim.sessionId }),
    )) {
      expect(`${name}: ${await reasonOf(call())}`).toBe(`${name}: FORBIDDEN`);
    }
    await callerFor(t.auth, victim.accessToken).auth.me();
    expect(await stateOf(victim.user.id)).toEqual(before);
  });

  it("without a token every admin procedure answers TOKEN_MISSING", async () => {
    const victim = await newUser();
    for (const [name, call] of Object.entries(
      everyAdminCall(undefined, { userId: victim.user.id, sessionId: victim.sessionId }),
    )) {
      expect(`${name}: ${await reasonOf(call())}`).toBe(`${name}: TOKEN_MISSING`);
    }
  });

  it("an admin demoted by admin.setRole on one instance is FORBIDDEN at once on another that has not heard of it, and its next refresh there says user", async () => {
    // Instance B: the same database, a revocation set of its own that no feed reaches, so B still
    // accepts the old token: only the role each admin call reads from the database refuses it.
    const b = createAuth({ db: t.database.db, keys: t.auth.keys, settings: { issuer: TEST_ISSUER, audience: TEST_AUDIENCE } });
    const demoted = await createAdmin(t.auth, "soon-demoted@example.com", password);
    const session = await callerFor(b).auth.login({ email: "soon-demoted@example.com", password });
    await callerFor(b, session.accessToken).admin.audit({});

    expect(
      await callerFor(t.auth, adminToken).admin.setRole({ userId: demoted!.id, role: "user", reason: "no longer on call" }),
    ).toEqual({
      ok: true,
    });
    expect((await callerFor(b, session.accessToken).auth.me()).user.role).toBe("user");
    const victim = await newUser();
    for (const [name, call] of Object.entries(
      everyAdminCall(session.accessToken, { userId: victim.user.id, sessionId: victim.sessionId }, b),
    )) {
      expect(`${name}: ${await reasonOf(call())}`).toBe(`${name}: FORBIDDEN`);
    }
    const renewed = await callerFor(b).auth.refresh({ refreshToken: session.refreshToken });
    expect(JSON.parse(Buffer.from(renewed.accessToken.split(".")[1]!, "base64url").toString())).toMatchObject({ role: "user" });
    b.revocations.close();
  });
});

describe("admin.revokeUser", () => {
  it("from the moment it returns no refresh of the user's sessions succeeds; a new login works", async () => {
    const u = await newUser();
    const other = await callerFor(t.auth).auth.login({ email: u.email, password });
    const { eventId } = await callerFor(t.auth, adminToken).admin.revokeUser({ userId: u.user.id, reason: "compromised" });
    expect(eventId).toMatch(/^[0-9a-f-]{36}$/);
    for (const refreshToken of [u.refreshToken, other.refreshToken]) {
      expect(await reasonOf(callerFor(t.auth).auth.refresh({ refreshToken }))).toBe("REFRESH_TOKEN_REVOKED");
    }
    // This process refuses the access tokens at once; other processes once the event is applied.
    expect(await reasonOf(callerFor(t.auth, u.accessToken).sessions.list())).toBe("SESSION_REVOKED");
    expect(await callerFor(t.auth, adminToken).admin.revocation({ eventId })).toEqual({ status: "pending" });
    const again = await callerFor(t.auth).auth.login({ email: u.email, password });
    await callerFor(t.auth, again.accessToken).auth.me();
    const found = await callerFor(t.auth, adminToken).admin.users.find({ email: u.email });
    expect(found.sessions.filter((s) => s.active).map((s) => s.id)).toEqual([again.sessionId]);
  });

  it("with lock: login answers ACCOUNT_LOCKED (a wrong password still INVALID_CREDENTIALS)", async () => {
    const u = await newUser();
    await callerFor(t.auth, adminToken).admin.revokeUser({ userId: u.user.id, reason: "fraud", lock: true });
    expect(await reasonOf(callerFor(t.auth).auth.login({ email: u.email, password }))).toBe("ACCOUNT_LOCKED");
    expect(await reasonOf(callerFor(t.auth).auth.login({ email: u.email, password: "wrong password!" }))).toBe(
      "INVALID_CREDENTIALS",
    );
    expect((await callerFor(t.auth, adminToken).admin.users.find({ userId: u.user.id })).user.locked).toBe(true);
  });

  it("an unknown user or session is NOT_FOUND", async () => {
    const admin = callerFor(t.auth, adminToken).admin;
    expect(await reasonOf(admin.revokeUser({ userId: randomUUID(), reason: "x" }))).toBe("NOT_FOUND");
    expect(await reasonOf(admin.revokeSession({ sessionId: randomUUID(), reason: "x" }))).toBe("NOT_FOUND");
    expect(await reasonOf(admin.revocation({ eventId: randomUUID() }))).toBe("NOT_FOUND");
    expect(await reasonOf(admin.users.find({ userId: randomUUID() }))).toBe("NOT_FOUND");
  });

  it("revoking a session twice returns the same event", async () => {
    const u = await newUser();
    const admin = callerFor(t.auth, adminToken).admin;
    const first = await admin.revokeSession({ sessionId: u.sessionId, reason: "once" });
    expect(await admin.revokeSession({ sessionId: u.sessionId, reason: "twice" })).toEqual(first);
  });
});

describe("admin.setRole", () => {
  it("promotes and demotes: the role changes with a user.role_changed event; the same role again writes nothing", async () => {
    const u = await newUser();
    const admin = callerFor(t.auth, adminToken).admin;
    expect(await admin.setRole({ userId: u.user.id, role: "admin", reason: "on call" })).toEqual({ ok: true });
    expect((await admin.users.find({ userId: u.user.id })).user.role).toBe("admin");
    // The promoted user's next renewal carries the role: its old token (role user) is refused meanwhile.
    expect(await reasonOf(callerFor(t.auth, u.accessToken).auth.me())).toBe("TOKEN_EXPIRED");
    const renewed = await callerFor(t.auth).auth.refresh({ refreshToken: u.refreshToken });
    await callerFor(t.auth, renewed.accessToken).admin.audit({});

    const before = await stateOf(u.user.id);
    expect(await admin.setRole({ userId: u.user.id, role: "admin", reason: "again" })).toEqual({ ok: true });
    expect(await stateOf(u.user.id)).toEqual(before);
    expect(await admin.setRole({ userId: u.user.id, role: "user", reason: "off call" })).toEqual({ ok: true });
    expect((await stateOf(u.user.id)).events).toBe(before.events + 1);
    // Refused at once: by the role check, or by this instance's not-before when the renewed token's
    // iat (moved up to the promotion's first accepted second) is older than the demotion's.
    expect(["FORBIDDEN", "TOKEN_EXPIRED"]).toContain(await reasonOf(callerFor(t.auth, renewed.accessToken).admin.audit({})));
  });

  it("an unknown user is NOT_FOUND; a role or reason that is not one is VALIDATION_FAILED; nothing is written", async () => {
    const u = await newUser();
    const admin = callerFor(t.auth, adminToken).admin;
    const before = await stateOf(u.user.id);
    expect(await reasonOf(admin.setRole({ userId: randomUUID(), role: "admin", reason: "x" }))).toBe("NOT_FOUND");
    for (const input of [
      { userId: u.user.id, role: "root", reason: "x" },
      { userId: u.user.id, role: "admin", reason: " " },
      { userId: "not-a-uuid", role: "admin", reason: "x" },
      { userId: u.user.id, role: "admin" },
    ]) {
      expect(await reasonOf(admin.setRole(input as never)), JSON.stringify(input)).toBe("VALIDATION_FAILED");
    }
    expect(await stateOf(u.user.id)).toEqual(before);
  });
});

describe("admin.unlockUser", () => {
  it("a locked account can sign in again once unlocked (one user.unlocked event); its old sessions stay revoked", async () => {
    const u = await newUser();
    const admin = callerFor(t.auth, adminToken).admin;
    await admin.revokeUser({ userId: u.user.id, reason: "fraud", lock: true });
    expect(await reasonOf(callerFor(t.auth).auth.login({ email: u.email, password }))).toBe("ACCOUNT_LOCKED");
    const before = await stateOf(u.user.id);

    expect(await admin.unlockUser({ userId: u.user.id, reason: "cleared" })).toEqual({ ok: true });
    const after = await stateOf(u.user.id);
    expect(after.user!.lockedAt).toBeNull();
    expect(after.events).toBe(before.events + 1);
    const [event] = await t.database.db
      .select({ type: outboxEvents.type })
      .from(outboxEvents)
      .orderBy(desc(outboxEvents.seq))
      .limit(1);
    expect(event!.type).toBe("user.unlocked");
    expect(await reasonOf(callerFor(t.auth).auth.refresh({ refreshToken: u.refreshToken }))).toBe("REFRESH_TOKEN_REVOKED");
    await callerFor(t.auth).auth.login({ email: u.email, password });

    // Not locked: nothing to do, nothing written.
    const again = await stateOf(u.user.id);
    expect(await admin.unlockUser({ userId: u.user.id, reason: "again" })).toEqual({ ok: true });
    expect(await stateOf(u.user.id)).toEqual(again);
  });

  it("an unknown user is NOT_FOUND, a missing reason VALIDATION_FAILED", async () => {
    const admin = callerFor(t.auth, adminToken).admin;
    expect(await reasonOf(admin.unlockUser({ userId: randomUUID(), reason: "x" }))).toBe("NOT_FOUND");
    expect(await reasonOf(admin.unlockUser({ userId: randomUUID() } as never))).toBe("VALIDATION_FAILED");
  });
});
