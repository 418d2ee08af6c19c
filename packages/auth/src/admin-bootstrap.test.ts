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

describe("admin bootstrap", () => {
  it("createAdmin creates an admin when the email is free and leaves an existing account exactly as it is", async () => {
    expect(await createAdmin(t.auth, "first-admin@example.com", "admin password 1")).toMatchObject({
      email: "first-admin@example.com",
      role: "admin",
    });
    await signup(t.auth, { email: "taken@example.com", password: "owner password" }, {});
    const before = await accountRow("taken@example.com");
    expect(await createAdmin(t.auth, "taken@example.com", "admin password 1")).toBeUndefined();
    expect(await accountRow("taken@example.com")).toEqual(before);
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
