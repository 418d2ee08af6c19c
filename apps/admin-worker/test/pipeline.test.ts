import { randomUUID } from "node:crypto";
import { callerFor, reasonOf, signUp } from "@warden/api/testing";
import { applyRevocationEvent, createAdmin } from "@warden/auth";
import { createTestKeyRing } from "@warden/auth/testing";
import {
  MAINTENANCE_QUEUE,
  REVOCATION_JOB_OPTIONS,
  REVOCATION_QUEUE,
  revocationEvent,
  type RevocationEvent,
} from "@warden/contracts";
import { auditLog, outboxEvents, refreshTokens, sessions, users } from "@warden/db";
import { createTestDatabase, type TestDatabase } from "@warden/db/testing";
import { Queue } from "bullmq";
import { and, eq } from "drizzle-orm";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAINTENANCE_SCHEDULER_ID, type AdminWorker } from "@warden/worker";
import { deletePrefix, REDIS_URL, startInstance, startWorker, testPrefix, waitFor, type Instance } from "./support.js";

const prefix = testPrefix();
const password = "correct horse battery";
let database: TestDatabase;
let a: Instance;
let b: Instance;
let worker: AdminWorker;
let queueConnection: Redis;
let queue: Queue<RevocationEvent>;
let adminToken: string;

beforeAll(async () => {
  database = await createTestDatabase();
  const keys = createTestKeyRing();
  a = await startInstance(database, { redisUrl: REDIS_URL, prefix, keys, refreshReuseGraceMs: 1 });
  b = await startInstance(database, { redisUrl: REDIS_URL, prefix, keys, refreshReuseGraceMs: 1 });
  worker = await startWorker(database, { redisUrl: REDIS_URL, prefix });
  await Promise.all([a.feed.ready(), b.feed.ready()]);
  queueConnection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  queue = new Queue<RevocationEvent>(REVOCATION_QUEUE, { connection: queueConnection, prefix });
  await createAdmin(a.auth, "admin@example.com", password);
  adminToken = (await callerFor(a.auth).auth.login({ email: "admin@example.com", password })).accessToken;
});

afterAll(async () => {
  await queue?.close();
  queueConnection?.disconnect();
  await worker?.close();
  await a?.close();
  await b?.close();
  await deletePrefix(REDIS_URL, prefix);
  await database?.drop();
});

const admin = () => callerFor(a.auth, adminToken).admin;

async function newUser() {
  const email = `u-${randomUUID()}@example.com`;
  const first = await signUp(a.auth, { email, password });
  const second = await callerFor(b.auth).auth.login({ email, password });
  return { email, userId: first.user.id, first, second };
}

async function applied(eventId: string) {
  return waitFor(
    async () => {
      const status = await admin().revocation({ eventId });
      return status.status === "applied" && status;
    },
    15_000,
    `event ${eventId} applied`,
  );
}

async function outboxEventFor(sessionId: string): Promise<RevocationEvent> {
  const [row] = await database.db.select({ id: sessions.revokedEventId }).from(sessions).where(eq(sessions.id, sessionId));
  const [event] = await database.db.select().from(outboxEvents).where(eq(outboxEvents.id, row!.id!));
  return revocationEvent.parse(event!.payload);
}

async function snapshot(userId: string, eventId: string) {
  const sessionRows = await database.db.select().from(sessions).where(eq(sessions.userId, userId)).orderBy(sessions.id);
  const tokenRows = await database.db
    .select({ id: refreshTokens.id, revokedAt: refreshTokens.revokedAt, rotatedAt: refreshTokens.rotatedAt })
    .from(refreshTokens)
    .innerJoin(sessions, eq(sessions.id, refreshTokens.sessionId))
    .where(eq(sessions.userId, userId))
    .orderBy(refreshTokens.id);
  const audit = await database.db.select().from(auditLog).where(eq(auditLog.eventId, eventId));
  const outbox = await database.db.select().from(outboxEvents).where(eq(outboxEvents.id, eventId));
  return { sessionRows, tokenRows, audit, outbox };
}

describe("admin.revokeUser through the queue and the worker", () => {
  it("refresh fails at once, every instance refuses the access tokens once applied, a new login still works", async () => {
    const u = await newUser();
    await callerFor(b.auth, u.first.accessToken).sessions.list();

    const { eventId } = await admin().revokeUser({ userId: u.userId, reason: "compromised" });
    // From the moment the call returns, on every instance.
    expect(await reasonOf(callerFor(a.auth).auth.refresh({ refreshToken: u.first.refreshToken }))).toBe("REFRESH_TOKEN_REVOKED");
    expect(await reasonOf(callerFor(b.auth).auth.refresh({ refreshToken: u.second.refreshToken }))).toBe("REFRESH_TOKEN_REVOKED");

    const status = await applied(eventId);
    expect(status.appliedAt).toBeTypeOf("number");
    // B heard it from the worker (these instances have no fast path).
    for (const token of [u.first.accessToken, u.second.accessToken]) {
      await waitFor(
        async () => (await reasonOf(callerFor(b.auth, token).sessions.list())) === "SESSION_REVOKED",
        2_000,
        "B refuses",
      );
      expect(await reasonOf(callerFor(a.auth, token).sessions.list())).toBe("SESSION_REVOKED");
    }
    const live = await database.db
      .select({ id: refreshTokens.id, revokedAt: refreshTokens.revokedAt })
      .from(refreshTokens)
      .where(eq(refreshTokens.sessionId, u.second.sessionId));
    expect(live.every((t) => t.revokedAt !== null)).toBe(true);

    const again = await callerFor(b.auth).auth.login({ email: u.email, password });
    expect((await callerFor(a.auth, again.accessToken).sessions.list()).map((s) => s.id)).toEqual([again.sessionId]);
    const audit = await admin().audit({});
    expect(audit.items.find((i) => i.eventId === eventId)).toMatchObject({
      type: "user.revoked",
      userId: u.userId,
      sessionsRevoked: 2,
    });
  });

  it("with lock, the account cannot sign in again: ACCOUNT_LOCKED", async () => {
    const u = await newUser();
    const { eventId } = await admin().revokeUser({ userId: u.userId, reason: "fraud", lock: true });
    expect(await reasonOf(callerFor(a.auth).auth.login({ email: u.email, password }))).toBe("ACCOUNT_LOCKED");
    await applied(eventId);
    expect(await reasonOf(callerFor(b.auth).auth.login({ email: u.email, password }))).toBe("ACCOUNT_LOCKED");
  });
});

describe("theft", () => {
  it("a replayed refresh token produces refresh_token.reused, applied by the worker and shown in admin.audit", async () => {
    const u = await newUser();
    const rotated = await callerFor(a.auth).auth.refresh({ refreshToken: u.first.refreshToken });
    await new Promise((r) => setTimeout(r, 10)); // past the 1 ms grace window of these instances
    expect(await reasonOf(callerFor(b.auth).auth.refresh({ refreshToken: u.first.refreshToken }))).toBe("REFRESH_TOKEN_REUSED");

    const event = await outboxEventFor(u.first.sessionId);
    expect(event).toMatchObject({ type: "refresh_token.reused", sessionId: u.first.sessionId, userId: u.userId });
    await applied(event.eventId);
    const audit = await admin().audit({ limit: 100 });
    expect(audit.items.find((i) => i.eventId === event.eventId)).toMatchObject({
      type: "refresh_token.reused",
      sessionId: u.first.sessionId,
      actor: { type: "system", id: null },
      sessionsRevoked: 1,
    });
    await waitFor(
      async () => (await reasonOf(callerFor(b.auth, rotated.accessToken).sessions.list())) === "SESSION_REVOKED",
      2_000,
      "B refuses",
    );
    // The other session of the user is untouched.
    await callerFor(b.auth, u.second.accessToken).sessions.list();
  });
});

describe("delivery", () => {
  it("the same event delivered twice changes nothing the second time", async () => {
    const u = await newUser();
    const { eventId } = await admin().revokeUser({ userId: u.userId, reason: "twice" });
    await applied(eventId);
    const before = await snapshot(u.userId, eventId);
    expect(before.audit).toHaveLength(1);

    const job = await queue.getJob(eventId);
    expect(job?.finishedOn).toBeTypeOf("number");
    await job!.remove();
    await queue.add(job!.name, job!.data, { ...REVOCATION_JOB_OPTIONS, jobId: eventId });
    const second = await waitFor(
      async () => {
        const j = await queue.getJob(eventId);
        return j?.finishedOn ? j : undefined;
      },
      15_000,
      "second delivery done",
    );
    expect(second.returnvalue).toEqual({ alreadyApplied: true, sessionsRevoked: 0 });
    expect(await snapshot(u.userId, eventId)).toEqual(before);

    // Applied directly once more, as a redelivery racing the first would: still nothing changes.
    const published: string[][] = [];
    const result = await applyRevocationEvent(database.db, revocationEvent.parse(job!.data), {
      accessTokenTtlMs: 60_000,
      publish: async (ids) => void published.push(ids),
      publishNotBefore: async () => {},
    });
    expect(result.alreadyApplied).toBe(true);
    expect(await snapshot(u.userId, eventId)).toEqual(before);
  });

  it("a malformed job fails visibly at once, and the jobs after it still run", async () => {
    const failures: string[] = [];
    worker.revocations.on("failed", (job, err) => job && failures.push(`${job.id}: ${err.message}`));
    const badId = randomUUID();
    await queue.add("session.revoked", { type: "session.revoked", eventId: "not-a-uuid", token: "x" } as never, {
      ...REVOCATION_JOB_OPTIONS,
      jobId: badId,
    });
    const failed = await waitFor(
      async () => {
        if ((await queue.getJobState(badId)) !== "failed") return undefined;
        return queue.getJob(badId);
      },
      15_000,
      "malformed job failed",
    );
    expect(failed.attemptsMade).toBe(1); // no retries: it can never succeed
    expect(failed.failedReason).toMatch(/malformed revocation event/);
    expect(failures.some((f) => f.startsWith(badId))).toBe(true);

    const u = await newUser();
    const { eventId } = await admin().revokeSession({ sessionId: u.first.sessionId, reason: "after the bad one" });
    await applied(eventId);
    const [row] = await database.db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.eventId, eventId)));
    expect(row).toMatchObject({ type: "session.revoked", sessionId: u.first.sessionId, sessionsRevoked: 1 });
  });
});

describe("admin access", () => {
  it("an admin demoted in the database loses access at once, with a token that still says admin", async () => {
    await createAdmin(a.auth, "demoted@example.com", password);
    const token = (await callerFor(a.auth).auth.login({ email: "demoted@example.com", password })).accessToken;
    await callerFor(b.auth, token).admin.audit({});
    await database.db.update(users).set({ role: "user" }).where(eq(users.email, "demoted@example.com"));
    expect(await reasonOf(callerFor(b.auth, token).admin.audit({}))).toBe("FORBIDDEN");
  });
});

describe("maintenance", () => {
  it("the worker schedules the prune job once (a job scheduler) and runs it", async () => {
    const maintenance = new Queue(MAINTENANCE_QUEUE, { connection: queueConnection, prefix });
    try {
      const schedulers = await maintenance.getJobSchedulers();
      expect(schedulers.map((s) => s.key)).toEqual([MAINTENANCE_SCHEDULER_ID]);
      const done = await waitFor(
        async () => {
          const [job] = await maintenance.getCompleted();
          return job;
        },
        15_000,
        "a prune job completed",
      );
      expect(done.returnvalue).toMatchObject({
        sessions: expect.any(Number),
        outboxEvents: expect.any(Number),
        feedEntries: expect.any(Number),
      });
    } finally {
      await maintenance.close();
    }
  });
});
