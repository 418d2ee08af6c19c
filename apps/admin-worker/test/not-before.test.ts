import { randomUUID } from "node:crypto";
import { callerFor, reasonOf } from "@warden/api/testing";
import { applyRevocationEvent, revokeUserSessions, setUserRole } from "@warden/auth";
import { createTestKeyRing } from "@warden/auth/testing";
import { revocationEvent } from "@warden/contracts";
import { auditLog, outboxEvents, users } from "@warden/db";
import { createTestDatabase, type TestDatabase } from "@warden/db/testing";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AdminWorker } from "@warden/worker";
import { deletePrefix, REDIS_URL, startInstance, startWorker, testPrefix, waitFor, type Instance } from "./support.js";

/**
 * The durable path alone: instances without the fast path, so what instance B learns of a role
 * change or a lock made on A is what the worker publishes from the outbox event.
 */
const prefix = testPrefix();
const password = "correct horse battery";
const system = { type: "system" as const, id: null };
let database: TestDatabase;
let a: Instance;
let b: Instance;
let worker: AdminWorker;

beforeAll(async () => {
  database = await createTestDatabase();
  const keys = createTestKeyRing();
  a = await startInstance(database, { redisUrl: REDIS_URL, prefix, keys });
  b = await startInstance(database, { redisUrl: REDIS_URL, prefix, keys });
  worker = await startWorker(database, { redisUrl: REDIS_URL, prefix });
  await Promise.all([a.feed.ready(), b.feed.ready()]);
  // An admin no test demotes or locks: the others are never the last unlocked one.
  await signedInAdmin();
});

afterAll(async () => {
  await worker?.close();
  await a?.close();
  await b?.close();
  await deletePrefix(REDIS_URL, prefix);
  await database?.drop();
});

async function signedInAdmin() {
  const email = `nb-${randomUUID()}@example.com`;
  const { user } = await callerFor(a.auth).auth.signup({ email, password });
  await database.db.update(users).set({ role: "admin" }).where(eq(users.id, user.id));
  const pair = await callerFor(a.auth).auth.login({ email, password });
  return { userId: user.id, ...pair };
}

async function appliedAt(eventId: string) {
  return waitFor(
    async () => {
      const [row] = await database.db
        .select({ appliedAt: outboxEvents.appliedAt })
        .from(outboxEvents)
        .where(eq(outboxEvents.id, eventId));
      return row?.appliedAt ?? undefined;
    },
    15_000,
    "the worker applied the event",
  );
}

describe("not-before through the worker", () => {
  it("a role change is published by the worker: B refuses the old token, the audit row is written once, a redelivery changes nothing", async () => {
    const admin = await signedInAdmin();
    expect((await callerFor(b.auth, admin.accessToken).auth.me()).user.role).toBe("admin");

    const { eventId } = await setUserRole(a.auth, { userId: admin.userId, role: "user", reason: "demoted", actor: system });
    const applied = await appliedAt(eventId!);
    await waitFor(() => b.auth.revocations.firstAcceptedIat(admin.userId) !== undefined, 15_000, "B heard the not-before");
    expect(await reasonOf(callerFor(b.auth, admin.accessToken).auth.me())).toBe("TOKEN_EXPIRED");
    const renewed = await callerFor(b.auth).auth.refresh({ refreshToken: admin.refreshToken });
    expect((await callerFor(b.auth, renewed.accessToken).auth.me()).user.role).toBe("user");

    const audit = await database.db.select().from(auditLog).where(eq(auditLog.eventId, eventId!));
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({
      type: "user.role_changed",
      userId: admin.userId,
      sessionId: null,
      sessionsRevoked: 0,
      reason: "demoted",
      actorType: "system",
    });

    // The same event applied again, as a redelivery would: nothing changes, nothing is published.
    const [outbox] = await database.db
      .select({ payload: outboxEvents.payload })
      .from(outboxEvents)
      .where(eq(outboxEvents.id, eventId!));
    let published = 0;
    const again = await applyRevocationEvent(database.db, revocationEvent.parse(outbox!.payload), {
      accessTokenTtlMs: 60_000,
      publish: async () => void published++,
      publishNotBefore: async () => void published++,
    });
    expect(again).toEqual({ alreadyApplied: true, sessionIds: [] });
    expect(published).toBe(0);
    expect(await database.db.select().from(auditLog).where(eq(auditLog.eventId, eventId!))).toHaveLength(1);
    const [after] = await database.db
      .select({ appliedAt: outboxEvents.appliedAt })
      .from(outboxEvents)
      .where(eq(outboxEvents.id, eventId!));
    expect(after!.appliedAt).toEqual(applied);
  });

  it("a lock's not-before is published by the worker too", async () => {
    const user = await signedInAdmin();
    const { eventId } = await revokeUserSessions(a.auth, {
      userId: user.userId,
      reason: "compromised",
      actor: system,
      lock: true,
    });
    await appliedAt(eventId);
    await waitFor(() => b.auth.revocations.firstAcceptedIat(user.userId) !== undefined, 15_000, "B heard the not-before");
    const [row] = await database.db.select({ lockedAt: users.lockedAt }).from(users).where(eq(users.id, user.userId));
    const lockSecond = Math.floor(row!.lockedAt!.getTime() / 1000);
    expect(b.auth.revocations.issuedBeforeNotBefore(user.userId, lockSecond)).toBe(true);
    expect(await reasonOf(callerFor(b.auth).auth.refresh({ refreshToken: user.refreshToken }))).toMatch(
      /ACCOUNT_LOCKED|REFRESH_TOKEN_REVOKED/,
    );
  });
});
