import { randomUUID } from "node:crypto";
import type { RequestInfo } from "@warden/api";
import { callerFor, reasonOf } from "@warden/api/testing";
import { createAdmin, deriveOneTimeToken, promoteToAdmin } from "@warden/auth";
import { createTestKeyRing } from "@warden/auth/testing";
import type { AuditEntry } from "@warden/contracts";
import { createTestDatabase, type TestDatabase } from "@warden/db/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AdminWorker } from "@warden/worker";
import { deletePrefix, REDIS_URL, startInstance, startWorker, testPrefix, waitFor, type Instance } from "./support.js";

/**
 * The audit of every auth event: each one a user or an admin can cause, made through the API with
 * a client address and user agent of its own, applied by a real worker, then read with admin.audit.
 */
const prefix = testPrefix();
const password = "correct horse battery";
let database: TestDatabase;
let a: Instance;
let worker: AdminWorker;
let adminId: string;
let adminToken: string;
const adminClient: RequestInfo = { ip: "198.51.100.1", userAgent: "AdminConsole/1.0" };
/** Every request of the story below, each from an address and user agent of its own. */
const from = (n: number): RequestInfo => ({ ip: `203.0.113.${n}`, userAgent: `Client/${n}` });

let userId: string;
let userEmail: string;
let deletedId: string;
let webhookId: string;
/** admin.audit for the user, every page. */
let history: AuditEntry[];

beforeAll(async () => {
  database = await createTestDatabase();
  a = await startInstance(database, { redisUrl: REDIS_URL, prefix, keys: createTestKeyRing(), refreshReuseGraceMs: 1 });
  worker = await startWorker(database, { redisUrl: REDIS_URL, prefix });
  await a.feed.ready();
  adminId = (await createAdmin(a.auth, "admin@example.com", password))!.id;
  adminToken = (await callerFor(a.auth, undefined, adminClient).auth.login({ email: "admin@example.com", password })).accessToken;
  await tellTheStory();
  history = await allPages({ userId }, 5);
}, 60_000);

afterAll(async () => {
  await worker?.close();
  await a?.close();
  await deletePrefix(REDIS_URL, prefix);
  await database?.drop();
});

const admin = () => callerFor(a.auth, adminToken, adminClient).admin;
const api = (client: RequestInfo, token?: string) => callerFor(a.auth, token, client).auth;

async function emailEventId(kind: "password_reset" | "email_verification"): Promise<string> {
  const [row] = await database.sql<{ id: string }[]>`
    select id from outbox_events where type = 'email.requested' and payload->>'userId' = ${userId}
    and payload->>'kind' = ${kind} order by seq desc limit 1`;
  return row!.id;
}

/** Every auth event of one account, in order; the request numbers are the clients' `from(n)`. */
async function tellTheStory() {
  userEmail = `story-${randomUUID()}@example.com`;
  const signup = await api(from(1)).signup({ email: userEmail, password, deviceName: "laptop" });
  if ("verificationRequired" in signup) throw new Error("no session");
  userId = signup.user.id;
  const session = await api(from(2)).login({ email: userEmail, password });
  expect(await reasonOf(api(from(3)).login({ email: userEmail, password: "wrong password!" }))).toBe("INVALID_CREDENTIALS");
  expect(await reasonOf(api(from(4)).login({ email: `nobody-${randomUUID()}@example.com`, password }))).toBe(
    "INVALID_CREDENTIALS",
  );
  await api(from(5), session.accessToken).logout({});
  // Theft: a rotated refresh token presented again after the (1 ms) grace window.
  await api(from(6)).refresh({ refreshToken: signup.refreshToken });
  await new Promise((r) => setTimeout(r, 10));
  expect(await reasonOf(api(from(6)).refresh({ refreshToken: signup.refreshToken }))).toBe("REFRESH_TOKEN_REUSED");
  const current = await api(from(7)).login({ email: userEmail, password });
  await api(from(8), current.accessToken).verifyEmail({
    token: deriveOneTimeToken(a.auth.oneTimeKeys[0], await emailEventId("email_verification")),
  });
  const newPassword = "a new password 1";
  await api(from(9), current.accessToken).changePassword({ currentPassword: password, newPassword });
  await api(from(10)).requestPasswordReset({ email: userEmail });
  await api(from(11)).resetPassword({
    token: deriveOneTimeToken(a.auth.oneTimeKeys[0], await emailEventId("password_reset")),
    newPassword: password,
  });
  const again = await api(from(12)).login({ email: userEmail, password });
  await admin().revokeSession({ sessionId: again.sessionId, reason: "suspicious device" });
  await admin().revokeUser({ userId, reason: "sign out everywhere" });
  await admin().revokeUser({ userId, reason: "fraud review", lock: true });
  expect(await reasonOf(api(from(13)).login({ email: userEmail, password }))).toBe("ACCOUNT_LOCKED");
  await admin().unlockUser({ userId, reason: "cleared" });
  await admin().setRole({ userId, role: "admin", reason: "on call" });
  webhookId = (await admin().webhooks.create({ url: "https://hooks.example.com/warden", events: ["user.revoked"] })).id;
  await admin().webhooks.test({ id: webhookId });
  await admin().webhooks.delete({ id: webhookId });
  const doomed = await api(from(14)).signup({ email: `doomed-${randomUUID()}@example.com`, password });
  deletedId = doomed.user.id;
  await admin().deleteUser({ userId: deletedId, reason: "erasure request" });
  await waitFor(
    async () =>
      (await database.sql<{ n: number }[]>`select count(*)::int as n from outbox_events where applied_at is null`)[0]!.n === 0,
    15_000,
    "every event applied",
  );
}

async function allPages(
  input: Omit<NonNullable<Parameters<ReturnType<typeof admin>["audit"]>[0]>, "cursor" | "limit">,
  limit: number,
) {
  const items: AuditEntry[] = [];
  let cursor: string | undefined;
  do {
    const page = await admin().audit({ ...input, limit, ...(cursor ? { cursor } : {}) });
    items.push(...page.items);
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return items;
}

const client = (n: number) => ({ ip: from(n).ip, userAgent: from(n).userAgent });
const byAdmin = () => ({ actor: { type: "admin", id: adminId, email: "admin@example.com" }, ...adminClient });

describe("the audit log", () => {
  it("has a row for every auth event, with its actor, target, time, reason, and the address and user agent of the request that made it", () => {
    const entry = (type: string, match: Partial<AuditEntry> | Record<string, unknown> = {}) => {
      const found = history.filter(
        (i) =>
          i.type === type &&
          Object.entries(match).every(([k, v]) => JSON.stringify(i[k as keyof AuditEntry]) === JSON.stringify(v)),
      );
      expect(found, `${type} ${JSON.stringify(match)} in ${JSON.stringify(history.map((i) => i.type))}`).toHaveLength(1);
      return found[0]!;
    };
    const user = { id: userId, email: userEmail, deleted: false };
    const self = { type: "user", id: userId, email: userEmail };
    expect(entry("user.signed_up")).toMatchObject({ user, actor: self, ...client(1), reason: "signed up" });
    expect(entry("email.requested", { reason: "verification email" })).toMatchObject({ user, ...client(1) });
    const firstLogin = entry("login.succeeded", client(2));
    expect(firstLogin).toMatchObject({ user, actor: self, eventId: null, reason: "signed in" });
    expect(firstLogin.sessionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(entry("login.failed", client(3))).toMatchObject({
      user,
      actor: { type: "anonymous", id: null, email: null },
      reason: "wrong password",
    });
    expect(entry("session.revoked", { reason: "logout" })).toMatchObject({
      user,
      actor: self,
      sessionId: firstLogin.sessionId,
      ...client(5),
    });
    // The address that presented the stolen token: the one that matters most.
    expect(entry("refresh_token.reused")).toMatchObject({
      user,
      actor: { type: "system", id: null },
      sessionsRevoked: 1,
      ...client(6),
    });
    expect(entry("email.verified")).toMatchObject({ user, actor: self, ...client(8) });
    expect(entry("password.changed")).toMatchObject({ user, actor: self, ...client(9) });
    expect(entry("email.requested", { reason: "password reset email" })).toMatchObject({
      user,
      actor: { type: "system", id: null },
      ...client(10),
    });
    expect(entry("password.reset")).toMatchObject({ user, actor: self, ...client(11) });
    expect(entry("session.revoked", { reason: "suspicious device" })).toMatchObject({ user, ...byAdmin(), sessionsRevoked: 1 });
    expect(entry("user.revoked")).toMatchObject({ user, ...byAdmin(), reason: "sign out everywhere" });
    expect(entry("user.locked")).toMatchObject({ user, ...byAdmin(), reason: "fraud review" });
    expect(entry("login.refused")).toMatchObject({ user, ...client(13), reason: "account locked" });
    expect(entry("user.unlocked")).toMatchObject({ user, ...byAdmin(), reason: "cleared" });
    expect(entry("user.role_changed")).toMatchObject({ user, ...byAdmin(), reason: "on call" });
    // Older readers (the console, the CLI) keep their fields.
    expect(entry("user.revoked")).toMatchObject({
      userId,
      eventId: expect.any(String),
      appliedAt: expect.any(Number),
      sessionsRevoked: 0,
    });
  });

  it("records webhook changes with the admin who made them and the admin's address and user agent", async () => {
    const rows = (await allPages({ userId: adminId }, 50)).filter((i) => i.reason.includes(webhookId));
    expect(rows.map((i) => i.type)).toEqual(["webhook.deleted", "webhook.tested", "webhook.created"]);
    for (const row of rows) expect(row, row.type).toMatchObject({ user: null, ...byAdmin() });
  });

  it("records a login for an unknown email without the email, and a deletion with the account shown as erased", async () => {
    const [unknown] = (await allPages({ type: "login.failed" }, 50)).filter((i) => i.ip === from(4).ip);
    expect(unknown).toMatchObject({ user: null, userId: null, reason: "unknown email", actor: { type: "anonymous" } });
    const [deleted] = await allPages({ type: "user.deleted" }, 50);
    expect(deleted).toMatchObject({
      user: { id: deletedId, email: null, deleted: true },
      ...byAdmin(),
      reason: "erasure request",
    });
    // What the outbox held of the requests moved to the audit: no outbox row keeps an address.
    const [left] = await database.sql<{ n: number }[]>`
      select count(*)::int as n from outbox_events where ip is not null or user_agent is not null`;
    expect(left!.n).toBe(0);
  });

  it("filters by type, by user (what an admin did included) and by time range, newest first", async () => {
    const everything = await allPages({}, 200);
    expect(everything.map((i) => Number(i.id))).toEqual([...everything.map((i) => Number(i.id))].sort((x, y) => y - x));
    for (const type of ["login.succeeded", "session.revoked", "user.locked"] as const) {
      expect(
        (await allPages({ type }, 50)).map((i) => i.id),
        type,
      ).toEqual(everything.filter((i) => i.type === type).map((i) => i.id));
    }
    // The admin's own logins, and everything it did to others.
    const adminHistory = await allPages({ userId: adminId }, 50);
    expect(adminHistory.map((i) => i.id)).toEqual(
      everything.filter((i) => i.user?.id === adminId || (i.actor.type === "admin" && i.actor.id === adminId)).map((i) => i.id),
    );
    expect(adminHistory.map((i) => i.type)).toEqual(expect.arrayContaining(["login.succeeded", "user.deleted", "user.unlocked"]));
    // [from, to): `from` included, `to` excluded, on when each occurred.
    const times = [...new Set(everything.map((i) => i.occurredAt))].sort((x, y) => x - y);
    const lo = times[Math.floor(times.length / 3)]!;
    const hi = times[Math.floor((2 * times.length) / 3)]!;
    const window = await allPages({ from: lo, to: hi }, 4);
    expect(window.map((i) => i.id)).toEqual(everything.filter((i) => i.occurredAt >= lo && i.occurredAt < hi).map((i) => i.id));
    expect(window.length).toBeGreaterThan(0);
    expect(await allPages({ userId, type: "login.succeeded", from: lo }, 50)).toEqual(
      history.filter((i) => i.type === "login.succeeded" && i.occurredAt >= lo),
    );
  });

  it("pages with a cursor: every entry once, whatever the page size", async () => {
    for (const limit of [1, 3, 7])
      expect(
        (await allPages({ userId }, limit)).map((i) => i.id),
        `limit ${limit}`,
      ).toEqual(history.map((i) => i.id));
    const first = await admin().audit({ userId, limit: 2 });
    expect(first.items).toEqual(history.slice(0, 2));
    expect(first.nextCursor).toBe(history[1]!.id);
  });

  it("an admin made outside signup and admin.setRole is audited: its creation as user.signed_up, a promotion as user.revoked and user.role_changed, by the system", async () => {
    const system = { type: "system", id: null, email: null };
    expect((await allPages({ userId: adminId }, 50)).filter((i) => i.type === "user.signed_up")).toEqual([
      expect.objectContaining({
        user: { id: adminId, email: "admin@example.com", deleted: false },
        actor: system,
        reason: "admin account created by the operator",
      }),
    ]);
    const email = `promoted-${randomUUID()}@example.com`;
    const squatter = await api(from(20)).signup({ email, password });
    const { eventId } = await promoteToAdmin(a.auth, {
      email,
      password: "operator password",
      reason: "bootstrap",
      actor: { type: "system", id: null },
    });
    const promoted = await waitFor(
      async () => {
        const items = await allPages({ userId: squatter.user.id }, 50);
        return items.some((i) => i.type === "user.role_changed") && items.some((i) => i.eventId === eventId) && items;
      },
      15_000,
      "the promotion audited",
    );
    // Two events of one transaction: the worker may apply (and audit) them in either order.
    const rows = promoted.filter((i) => i.type === "user.revoked" || i.type === "user.role_changed");
    expect(rows).toHaveLength(2);
    expect(rows).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ type: "user.role_changed", actor: system, reason: "bootstrap", sessionsRevoked: 0 }),
        expect.objectContaining({ type: "user.revoked", eventId, actor: system, reason: "bootstrap", sessionsRevoked: 1 }),
      ]),
    );
  });

  it("an unknown user is NOT_FOUND; a type, range, cursor or limit that is not one is VALIDATION_FAILED", async () => {
    expect(await reasonOf(admin().audit({ userId: randomUUID() }))).toBe("NOT_FOUND");
    for (const input of [
      { type: "login" },
      { type: "user.revoked " },
      { from: 10, to: 5 },
      { from: -1 },
      { to: 1.5 },
      { from: "yesterday" },
      { to: 253_402_300_800_000 },
      { cursor: "abc" },
      { cursor: "-1" },
      { limit: 0 },
      { limit: 201 },
      { userId: "someone" },
    ]) {
      expect(await reasonOf(admin().audit(input as never)), JSON.stringify(input)).toBe("VALIDATION_FAILED");
    }
  });
});
