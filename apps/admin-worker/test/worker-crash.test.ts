import { signUp } from "@warden/api/testing";
import { revokeSession } from "@warden/auth";
import { createTestKeyRing } from "@warden/auth/testing";
import { REVOCATION_QUEUE, revocationFeedKeys } from "@warden/contracts";
import { auditLog, outboxEvents, refreshTokens } from "@warden/db";
import { createTestDatabase, type TestDatabase } from "@warden/db/testing";
import { Queue } from "bullmq";
import { eq } from "drizzle-orm";
import { Redis } from "ioredis";
import { afterAll, beforeAll, expect, it } from "vitest";
import { spawnNode, WORKER_MAIN, type Child } from "./processes.js";
import { deletePrefix, REDIS_URL, startInstance, testPrefix, waitFor, type Instance } from "./support.js";

const prefix = testPrefix();
let database: TestDatabase;
let instance: Instance;
let redis: Redis;
let queue: Queue;
const workers: Child[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  instance = await startInstance(database, { redisUrl: REDIS_URL, prefix, keys: createTestKeyRing() });
  redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  queue = new Queue(REVOCATION_QUEUE, { connection: redis, prefix });
});

afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop("SIGKILL")));
  await queue?.close();
  redis?.disconnect();
  await instance?.close();
  await deletePrefix(REDIS_URL, prefix);
  await database?.drop();
});

function startWorkerProcess(): Child {
  const child = spawnNode(WORKER_MAIN, {
    DATABASE_URL: database.url,
    REDIS_URL,
    QUEUE_PREFIX: prefix,
    // Short locks: the job of a dead worker is handed out again within about two seconds.
    WORKER_LOCK_DURATION: "1s",
    LOG_LEVEL: "warn",
  });
  workers.push(child);
  return child;
}

it("a worker killed in the middle of a job: another worker applies the event, exactly once in effect", async () => {
  const user = await signUp(instance.auth, { email: "crash@example.com", password: "correct horse battery" });
  const { eventId } = await revokeSession(instance.auth, {
    sessionId: user.sessionId,
    reason: "crash test",
    actor: { type: "admin", id: null },
  });
  await waitFor(async () => (await queue.getJobState(eventId!)) === "waiting", 10_000, "event queued");

  // Hold the event's outbox row: the worker gets through blacklisting and publishing, then waits on
  // this lock in its last transaction (audit row, applied) — the middle of the job.
  const holder = await database.sql.reserve();
  await holder`begin`;
  await holder`select id from outbox_events where id = ${eventId!} for update`;
  const first = startWorkerProcess();
  await waitFor(
    async () => {
      const [row] = await database.sql<{ n: number }[]>`
      select count(*)::int as n from pg_stat_activity
      where datname = current_database() and wait_event_type = 'Lock' and query ilike '%outbox_events%'`;
      return row!.n > 0;
    },
    20_000,
    "worker blocked mid-job",
  );
  expect(await queue.getJobState(eventId!)).toBe("active");

  await first.stop("SIGKILL");
  await holder`rollback`;
  holder.release();
  const [pending] = await database.db.select().from(outboxEvents).where(eq(outboxEvents.id, eventId!));
  expect(pending!.appliedAt).toBeNull();
  expect(await database.db.select().from(auditLog).where(eq(auditLog.eventId, eventId!))).toHaveLength(0);

  const second = startWorkerProcess();
  await waitFor(async () => (await queue.getJobState(eventId!)) === "completed", 30_000, "job completed by the second worker");

  const [row] = await database.db.select().from(outboxEvents).where(eq(outboxEvents.id, eventId!));
  expect(row!.appliedAt).not.toBeNull();
  const audit = await database.db.select().from(auditLog).where(eq(auditLog.eventId, eventId!));
  expect(audit).toHaveLength(1);
  expect(audit[0]).toMatchObject({ type: "session.revoked", sessionId: user.sessionId, sessionsRevoked: 1 });
  const tokens = await database.db.select().from(refreshTokens).where(eq(refreshTokens.sessionId, user.sessionId));
  expect(tokens.every((t) => t.revokedAt !== null)).toBe(true);
  expect(await redis.zscore(revocationFeedKeys(prefix).sessions, user.sessionId)).not.toBeNull();

  // SIGTERM: the worker closes cleanly.
  await second.stop("SIGTERM");
  expect(second.process.exitCode).toBe(0);
});
