import { randomUUID } from "node:crypto";
import { createAdmin } from "@warden/auth";
import { createTestAuth, type TestAuth } from "@warden/auth/testing";
import { users } from "@warden/db";
import { eq } from "drizzle-orm";
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

/** Every admin procedure, each called with a valid input and with garbage. */
function everyAdminCall(token: string | undefined, target: { userId: string; sessionId: string }) {
  const admin = callerFor(t.auth, token).admin;
  const garbage = { nonsense: true } as never;
  return {
    "users.find": () => admin.users.find({ userId: target.userId }),
    "users.find (garbage)": () => admin.users.find(garbage),
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

describe("admin authorization", () => {
  it("a non-admin gets FORBIDDEN on every admin procedure, whatever the input, and nothing is revoked", async () => {
    const caller = await newUser();
    const victim = await newUser();
    for (const [name, call] of Object.entries(
      everyAdminCall(caller.accessToken, { userId: victim.user.id, sessionId: victim.sessionId }),
    )) {
      expect(`${name}: ${await reasonOf(call())}`).toBe(`${name}: FORBIDDEN`);
    }
    await callerFor(t.auth, victim.accessToken).auth.me();
  });

  it("without a token every admin procedure answers TOKEN_MISSING", async () => {
    const victim = await newUser();
    for (const [name, call] of Object.entries(
      everyAdminCall(undefined, { userId: victim.user.id, sessionId: victim.sessionId }),
    )) {
      expect(`${name}: ${await reasonOf(call())}`).toBe(`${name}: TOKEN_MISSING`);
    }
  });

  it("an admin demoted in the database loses access at once, though the token still says admin", async () => {
    await createAdmin(t.auth, "soon-demoted@example.com", password);
    const token = (await callerFor(t.auth).auth.login({ email: "soon-demoted@example.com", password })).accessToken;
    await callerFor(t.auth, token).admin.audit({});
    await t.database.db.update(users).set({ role: "user" }).where(eq(users.email, "soon-demoted@example.com"));
    const victim = await newUser();
    for (const [name, call] of Object.entries(everyAdminCall(token, { userId: victim.user.id, sessionId: victim.sessionId }))) {
      expect(`${name}: ${await reasonOf(call())}`).toBe(`${name}: FORBIDDEN`);
    }
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
