import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { revokeUserSessions } from "./revoke.js";
import { rotateRefreshToken } from "./rotate.js";
import { createTestAuth, type TestAuth } from "./testing.js";
import { createAdmin, login, promoteToAdmin, signup } from "./users.js";

let t: TestAuth;
beforeAll(async () => {
  t = await createTestAuth();
});
afterAll(() => t.close());

const SYSTEM = { type: "system", id: null } as const;

async function accountRow(email: string) {
  const [row] = await t.database.sql<{ role: string; passwordHash: string; lockedAt: Date | null }[]>`
    select role, password_hash as "passwordHash", locked_at as "lockedAt" from users where email = ${email}`;
  return row;
}

/** The outbox events about a user, oldest first. */
async function eventsOf(userId: string) {
  return t.database.sql<{ type: string; payload: Record<string, unknown> }[]>`
    select type, payload from outbox_events where payload->>'userId' = ${userId} order by seq`;
}

describe("admin bootstrap", () => {
  it("createAdmin creates an admin when the email is free and leaves an existing account exactly as it is", async () => {
    expect(await createAdmin(t.auth, "first-admin@example.com", "admin password 1")).toMatchObject({
      email: "first-admin@example.com",
      role: "admin",
    });
    await signup(t.auth, { email: "taken@example.com", password: "owner password" }, {});
    const before = await accountRow("taken@example.com");
    const [eventsBefore] = await t.database.sql<{ n: number }[]>`select count(*)::int as n from outbox_events`;
    expect(await createAdmin(t.auth, "taken@example.com", "admin password 1")).toBeUndefined();
    expect(await accountRow("taken@example.com")).toEqual(before);
    const [eventsAfter] = await t.database.sql<{ n: number }[]>`select count(*)::int as n from outbox_events`;
    expect(eventsAfter?.n).toBe(eventsBefore?.n);
  });

  it("createAdmin records the account's creation as user.signed_up by the system, in its transaction, with the reason given", async () => {
    const admin = (await createAdmin(t.auth, "audited-admin@example.com", "admin password 1", "made by a test"))!;
    expect(await eventsOf(admin.id)).toEqual([
      { type: "user.signed_up", payload: expect.objectContaining({ reason: "made by a test", actor: SYSTEM }) },
    ]);
    const other = (await createAdmin(t.auth, "default-reason@example.com", "admin password 1"))!;
    expect(await eventsOf(other.id)).toEqual([
      { type: "user.signed_up", payload: expect.objectContaining({ reason: "admin account created by the operator" }) },
    ]);
  });

  it("promoteToAdmin revokes every session in the same transaction as the role and password, with one user.revoked event, and keeps the lock", async () => {
    const email = "promoted@example.com";
    const squatter = await signup(t.auth, { email, password: "squatter password" }, {});
    await login(t.auth, { email, password: "squatter password" }, {});
    await revokeUserSessions(t.auth, { userId: squatter.user.id, reason: "suspicious", actor: SYSTEM, lock: true });
    const third = await signup(t.auth, { email: "unlocked@example.com", password: "squatter password" }, {});
    const lockedAt = (await accountRow(email))?.lockedAt;

    const promoted = await promoteToAdmin(t.auth, { email, password: "operator password", reason: "bootstrap", actor: SYSTEM });
    expect(promoted).toMatchObject({ user: { id: squatter.user.id, role: "admin" }, revokedSessions: 0 });
    expect(await accountRow(email)).toMatchObject({ role: "admin", lockedAt });

    const unlocked = await promoteToAdmin(t.auth, {
      email: "unlocked@example.com",
      password: "operator password",
      reason: "bootstrap",
      actor: SYSTEM,
    });
    expect(unlocked.revokedSessions).toBe(1);
    expect((await accountRow("unlocked@example.com"))?.lockedAt).toBeNull();
    await expect(rotateRefreshToken(t.auth, third.refreshToken)).rejects.toMatchObject({ reason: "REFRESH_TOKEN_REVOKED" });
    expect(t.auth.revocations.has(third.sessionId)).toBe(true);
    await expect(login(t.auth, { email: "unlocked@example.com", password: "squatter password" }, {})).rejects.toMatchObject({
      reason: "INVALID_CREDENTIALS",
    });
    expect((await login(t.auth, { email: "unlocked@example.com", password: "operator password" }, {})).user.role).toBe("admin");

    const events = await t.database.sql<{ type: string; payload: { lock: boolean; userId: string } }[]>`
      select type, payload from outbox_events where id = ${unlocked.eventId}`;
    expect(events).toEqual([{ type: "user.revoked", payload: expect.objectContaining({ lock: false, userId: third.user.id }) }]);
  });

  it("promoteToAdmin records the role change as user.role_changed in the same transaction, with the user's not-before; none for an admin already", async () => {
    const email = "role-audited@example.com";
    const { user } = await signup(t.auth, { email, password: "squatter password" }, {});
    await promoteToAdmin(t.auth, { email, password: "operator password", reason: "bootstrap", actor: SYSTEM });
    const events = await eventsOf(user.id);
    expect(events.map((e) => e.type)).toEqual(["user.signed_up", "email.requested", "user.revoked", "user.role_changed"]);
    const changed = events[3]!.payload as { role: string; reason: string; actor: unknown; at: number };
    expect(changed).toMatchObject({ role: "admin", reason: "bootstrap", actor: SYSTEM });
    const [row] = await t.database.sql<{ notBefore: number }[]>`
      select (extract(epoch from tokens_not_before) * 1000)::float8 as "notBefore" from users where id = ${user.id}`;
    expect(row?.notBefore).toBe(changed.at);
    // This process refuses the user's older tokens at once, like after admin.setRole.
    expect(t.auth.revocations.notBefore(user.id)).toBe(changed.at);

    await promoteToAdmin(t.auth, { email, password: "operator password 2", reason: "again", actor: SYSTEM });
    expect((await eventsOf(user.id)).map((e) => e.type)).toEqual([
      "user.signed_up",
      "email.requested",
      "user.revoked",
      "user.role_changed",
      "user.revoked",
    ]);
  });

  it("promoteToAdmin on an email without an account is NOT_FOUND and writes nothing", async () => {
    const [before] = await t.database.sql<{ n: number }[]>`select count(*)::int as n from outbox_events`;
    await expect(
      promoteToAdmin(t.auth, { email: "nobody@example.com", password: "operator password", reason: "bootstrap", actor: SYSTEM }),
    ).rejects.toMatchObject({
      reason: "NOT_FOUND",
    });
    const [after] = await t.database.sql<{ n: number }[]>`select count(*)::int as n from outbox_events`;
    expect(after?.n).toBe(before?.n);
  });
});
