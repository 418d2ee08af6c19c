import { randomUUID } from "node:crypto";
import { callerFor, reasonOf, signUp } from "@warden/api/testing";
import type { RequestInfo } from "@warden/api";
import { createAdmin, revocationSnapshot } from "@warden/auth";
import { createTestKeyRing } from "@warden/auth/testing";
import { oneTimeTokens, outboxEvents, sessions } from "@warden/db";
import { createTestDatabase, type TestDatabase } from "@warden/db/testing";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AdminWorker } from "@warden/worker";
import {
  ACCESS_TOKEN_TTL_MS,
  deletePrefix,
  REDIS_URL,
  startInstance,
  startWorker,
  testPrefix,
  waitFor,
  type Instance,
} from "./support.js";

/**
 * admin.deleteUser through the whole pipeline: two instances and a worker. What the account left
 * behind (its email, the addresses and user agents of its requests, its device names) is looked
 * for in every table afterwards.
 */
const prefix = testPrefix();
const password = "correct horse battery";
let database: TestDatabase;
let a: Instance;
let b: Instance;
let worker: AdminWorker | undefined;
let adminToken: string;
const adminClient: RequestInfo = { ip: "198.51.100.10", userAgent: "AdminConsole/7.1" };

beforeAll(async () => {
  database = await createTestDatabase();
  const keys = createTestKeyRing();
  a = await startInstance(database, { redisUrl: REDIS_URL, prefix, keys });
  b = await startInstance(database, { redisUrl: REDIS_URL, prefix, keys });
  worker = await startWorker(database, { redisUrl: REDIS_URL, prefix });
  await Promise.all([a.feed.ready(), b.feed.ready()]);
  await createAdmin(a.auth, "admin@example.com", password);
  adminToken = (await callerFor(a.auth, undefined, adminClient).auth.login({ email: "admin@example.com", password })).accessToken;
});

afterAll(async () => {
  await worker?.close();
  await a?.close();
  await b?.close();
  await deletePrefix(REDIS_URL, prefix);
  await database?.drop();
});

const admin = () => callerFor(a.auth, adminToken, adminClient).admin;

async function applied(eventId: string) {
  await waitFor(async () => (await admin().revocation({ eventId })).status === "applied", 15_000, `event ${eventId} applied`);
}

async function everyEventApplied() {
  await waitFor(
    async () =>
      (await database.sql<{ n: number }[]>`select count(*)::int as n from outbox_events where applied_at is null`)[0]!.n === 0,
    15_000,
    "every event applied",
  );
}

/** For each table of the schema, how many rows hold `needle` anywhere (as JSON text, case-insensitive). */
async function rowsHolding(needle: string): Promise<Record<string, number>> {
  const tables = await database.sql<{ name: string }[]>`
    select table_name as name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE'`;
  const found: Record<string, number> = {};
  for (const { name } of tables) {
    const [row] = await database.sql<{ n: number }[]>`
      select count(*)::int as n from ${database.sql(name)} t where row_to_json(t)::text ilike ${`%${needle}%`}`;
    if (row!.n > 0) found[name] = row!.n;
  }
  return found;
}

describe("admin.deleteUser", () => {
  it("revokes every session through the pipeline and erases the account's email, addresses, user agents and device names from every table; the rows stay and the email is free again", async () => {
    const email = `erase-me-${randomUUID()}@example.com`;
    const laptop: RequestInfo = { ip: "203.0.113.71", userAgent: "VictimBrowser/1.0 (laptop)" };
    const phone: RequestInfo = { ip: "2001:db8::71", userAgent: "VictimBrowser/2.0 (phone)" };
    const stranger: RequestInfo = { ip: "203.0.113.99", userAgent: "Guesser/0.1" };
    const first = await callerFor(a.auth, undefined, laptop).auth.signup({ email, password, deviceName: "victim-laptop" });
    if ("verificationRequired" in first) throw new Error("no session");
    const userId = first.user.id;
    const second = await callerFor(b.auth, undefined, phone).auth.login({ email, password, deviceName: "victim-phone" });
    expect(await reasonOf(callerFor(a.auth, undefined, stranger).auth.login({ email, password: "not the password" }))).toBe(
      "INVALID_CREDENTIALS",
    );
    await callerFor(a.auth, undefined, laptop).auth.requestPasswordReset({ email });
    await everyEventApplied();
    // The account's traces are there before the deletion: the check below is not vacuous.
    for (const needle of [
      email,
      laptop.ip!,
      phone.ip!,
      stranger.ip!,
      "VictimBrowser",
      "Guesser",
      "victim-laptop",
      "victim-phone",
    ]) {
      expect(Object.keys(await rowsHolding(needle)), needle).not.toEqual([]);
    }
    // One event of the account is still in the outbox when the deletion comes (the worker is stopped).
    await worker!.close();
    worker = undefined;
    await callerFor(b.auth, second.accessToken, phone).sessions.revoke({ sessionId: second.sessionId });
    const [pending] = await database.db
      .select({ ip: outboxEvents.ip })
      .from(outboxEvents)
      .where(eq(outboxEvents.type, "session.revoked"));
    expect(pending).toEqual({ ip: phone.ip });

    const { eventId } = await admin().deleteUser({ userId, reason: "erasure request" });
    // From the moment it returns: no refresh, no sign-in, a deleted account is not found again.
    expect(await reasonOf(callerFor(a.auth).auth.refresh({ refreshToken: first.refreshToken }))).toBe("REFRESH_TOKEN_REVOKED");
    expect(await reasonOf(callerFor(a.auth).auth.login({ email, password }))).toBe("INVALID_CREDENTIALS");
    expect(await reasonOf(admin().deleteUser({ userId, reason: "again" }))).toBe("NOT_FOUND");
    expect(await reasonOf(admin().unlockUser({ userId, reason: "again" }))).toBe("NOT_FOUND");
    expect(await reasonOf(admin().setRole({ userId, role: "admin", reason: "again" }))).toBe("NOT_FOUND");

    worker = await startWorker(database, { redisUrl: REDIS_URL, prefix });
    await applied(eventId);
    await everyEventApplied();
    // Every instance refuses the access tokens (B heard it from the worker).
    await waitFor(
      async () => (await reasonOf(callerFor(b.auth, first.accessToken).auth.me())) === "SESSION_REVOKED",
      5_000,
      "B refuses the deleted account's session",
    );

    for (const needle of [
      email,
      laptop.ip!,
      phone.ip!,
      stranger.ip!,
      "VictimBrowser",
      "Guesser",
      "victim-laptop",
      "victim-phone",
    ]) {
      expect(await rowsHolding(needle), needle).toEqual({});
    }
    // The rows stay, anonymised: sessions (the feed is rebuilt from them), the audit, the user.
    const left = await database.db
      .select({ id: sessions.id, revokedAt: sessions.revokedAt })
      .from(sessions)
      .where(eq(sessions.userId, userId));
    expect(left.map((s) => s.id).sort()).toEqual([first.sessionId, second.sessionId].sort());
    expect(left.every((s) => s.revokedAt !== null)).toBe(true);
    const snapshot = await revocationSnapshot(database.db, Date.now(), ACCESS_TOKEN_TTL_MS);
    expect(snapshot.sessions.map((s) => s.id)).toEqual(expect.arrayContaining([first.sessionId]));
    expect(snapshot.notBefores.map((n) => n.userId)).toContain(userId);
    expect(await database.db.select().from(oneTimeTokens).where(eq(oneTimeTokens.userId, userId))).toEqual([]);
    const audit = await admin().audit({ userId, limit: 100 });
    expect(audit.items.map((i) => i.type)).toEqual(
      expect.arrayContaining(["user.signed_up", "login.succeeded", "login.failed", "session.revoked", "user.deleted"]),
    );
    for (const item of audit.items) {
      expect(item.user).toEqual({ id: userId, email: null, deleted: true });
      // Only the admin's own request keeps its address: it says who deleted the account, from where.
      if (item.type === "user.deleted") {
        expect(item).toMatchObject({ ip: adminClient.ip, userAgent: adminClient.userAgent, reason: "erasure request" });
        expect(item.actor.email).toBe("admin@example.com");
      } else expect(item, item.type).toMatchObject({ ip: null, userAgent: null });
    }
    const found = await admin().users.find({ userId });
    expect(found.user).toMatchObject({ email: `deleted+${userId}@invalid`, locked: true, role: "user", emailVerified: false });
    expect(found.sessions.every((s) => s.deviceName === null && s.ip === null && s.userAgent === null && !s.active)).toBe(true);

    // The address is free: a new account, with nothing of the old one.
    const again = await signUp(a.auth, { email, password });
    expect(again.user.id).not.toBe(userId);
    expect((await admin().users.find({ email })).sessions.map((s) => s.id)).toEqual([again.sessionId]);
    const [rows] = await database.sql<{ n: number }[]>`select count(*)::int as n from audit_log where user_id = ${userId}`;
    expect(rows!.n).toBe(audit.items.length);
  });

  it("an unknown id is NOT_FOUND and a malformed one VALIDATION_FAILED; nothing is written", async () => {
    const [before] = await database.sql<{ n: number }[]>`select count(*)::int as n from outbox_events`;
    expect(await reasonOf(admin().deleteUser({ userId: randomUUID(), reason: "x" }))).toBe("NOT_FOUND");
    expect(await reasonOf(admin().deleteUser({ userId: "nope", reason: "x" }))).toBe("VALIDATION_FAILED");
    expect(await reasonOf(admin().deleteUser({ userId: randomUUID(), reason: "" }))).toBe("VALIDATION_FAILED");
    const [after] = await database.sql<{ n: number }[]>`select count(*)::int as n from outbox_events`;
    expect(after!.n).toBe(before!.n);
  });
});
