import { callerFor, reasonOf, signUp } from "@warden/api/testing";
import { revokeSession } from "@warden/auth";
import { createTestKeyRing } from "@warden/auth/testing";
import { MAINTENANCE_QUEUE, REVOCATION_QUEUE } from "@warden/contracts";
import { auditLog, outboxEvents } from "@warden/db";
import { createTestDatabase, type TestDatabase } from "@warden/db/testing";
import { ownRedis, type OwnRedis } from "@warden/testing";
import { MAINTENANCE_SCHEDULER_ID, type AdminWorker } from "@warden/worker";
import { Queue } from "bullmq";
import { eq } from "drizzle-orm";
import { Redis } from "ioredis";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startInstance, startWorker, testPrefix, waitFor, type Instance } from "./support.js";

/** A Redis of this file's own: FLUSHALL empties it under running processes, as a restart without persistence would. */
let redis: OwnRedis;
let admin: Redis;
const prefix = testPrefix();
let database: TestDatabase;
let keys: ReturnType<typeof createTestKeyRing>;
let a: Instance;
let worker: AdminWorker | undefined;
const instances: Instance[] = [];

beforeAll(async () => {
  redis = await ownRedis();
  admin = new Redis(redis.url, { maxRetriesPerRequest: null });
  database = await createTestDatabase();
  keys = createTestKeyRing();
  a = await startInstance(database, { redisUrl: redis.url, prefix, keys });
  instances.push(a);
}, 60_000);

afterAll(async () => {
  await worker?.close();
  await Promise.all(instances.map((i) => i.close()));
  admin?.disconnect();
  await redis?.stop();
  await database?.drop();
});

it("Redis flushed under a running worker: the maintenance schedule is back within seconds", async () => {
  worker = await startWorker(database, { redisUrl: redis.url, prefix });
  const maintenance = new Queue(MAINTENANCE_QUEUE, { connection: admin, prefix });
  try {
    expect(await maintenance.getJobScheduler(MAINTENANCE_SCHEDULER_ID)).toMatchObject({ key: MAINTENANCE_SCHEDULER_ID });
    await admin.flushall();
    const flushedAt = Date.now();
    expect(await maintenance.getJobScheduler(MAINTENANCE_SCHEDULER_ID)).toBeUndefined();
    const back = await waitFor(
      () => maintenance.getJobScheduler(MAINTENANCE_SCHEDULER_ID),
      20_000,
      "the maintenance schedule re-created",
    );
    const tookMs = Date.now() - flushedAt;
    console.log(`maintenance schedule re-created ${tookMs} ms after FLUSHALL (checked every 5 s)`);
    expect(back).toMatchObject({ key: MAINTENANCE_SCHEDULER_ID, every: 3_600_000 });
    expect(await maintenance.getJobSchedulers()).toHaveLength(1);
    expect(tookMs).toBeLessThan(10_000);
  } finally {
    await maintenance.close();
    await worker.close();
    worker = undefined;
  }
});

it("an event published, then lost with Redis before any worker took it, is published again and applied once", async () => {
  const password = "correct horse battery";
  const user = await signUp(a.auth, { email: "lost-job@example.com", password });
  // No worker runs: the relay publishes the event and the job waits in the queue.
  const { eventId } = await revokeSession(a.auth, {
    sessionId: user.sessionId,
    reason: "lost with redis",
    actor: { type: "user", id: user.user.id },
  });
  const outboxRow = async () => (await database.db.select().from(outboxEvents).where(eq(outboxEvents.id, eventId!)))[0]!;
  await waitFor(async () => (await outboxRow()).publishedAt !== null, 10_000, "the event published");
  const revocations = new Queue(REVOCATION_QUEUE, { connection: admin, prefix });
  try {
    expect(await revocations.getJobState(eventId!)).toBe("waiting");

    await admin.flushall();
    const flushedAt = Date.now();
    expect(await revocations.getJob(eventId!)).toBeUndefined();
    expect(await outboxRow()).toMatchObject({ attempts: 1, appliedAt: null });

    worker = await startWorker(database, { redisUrl: redis.url, prefix });
    const workerUpAt = Date.now();
    const applied = await waitFor(
      async () => {
        const row = await outboxRow();
        return row.appliedAt !== null && row;
      },
      30_000,
      "the lost event applied",
    );
    const tookMs = Date.now() - flushedAt;
    console.log(
      `lost event applied ${tookMs} ms after FLUSHALL (${Date.now() - workerUpAt} ms after the worker started; the relay checks every 5 s for jobs published over 1 s ago)`,
    );
    expect(applied).toMatchObject({ attempts: 2, lastError: null });
    expect(await revocations.getJobState(eventId!)).toBe("completed");

    // Once in effect: one audit row, the session refused everywhere, and no further publish.
    expect(await database.db.select().from(auditLog).where(eq(auditLog.eventId, eventId!))).toHaveLength(1);
    expect(await reasonOf(callerFor(a.auth).auth.refresh({ refreshToken: user.refreshToken }))).toBe("REFRESH_TOKEN_REVOKED");
    // An instance that starts now knows the session only from the feed the worker rebuilt.
    const late = await startInstance(database, { redisUrl: redis.url, prefix, keys });
    instances.push(late);
    await late.feed.ready();
    expect(await reasonOf(callerFor(late.auth, user.accessToken).sessions.list())).toBe("SESSION_REVOKED");
    await new Promise((r) => setTimeout(r, 6_000));
    expect(await outboxRow()).toMatchObject({ attempts: 2 });
    expect(await database.db.select().from(auditLog).where(eq(auditLog.eventId, eventId!))).toHaveLength(1);
  } finally {
    await revocations.close();
  }
});
