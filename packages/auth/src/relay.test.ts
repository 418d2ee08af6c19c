import { randomUUID } from "node:crypto";
import { REVOCATION_QUEUE } from "@warden/contracts";
import { Queue, UnrecoverableError, Worker } from "bullmq";
import { Redis } from "ioredis";
import { afterAll, beforeAll, expect, it } from "vitest";
import { MAX_PUBLISHES } from "./outbox.js";
import { startOutboxRelay, type OutboxRelay } from "./relay.js";
import { revokeSession } from "./revoke.js";
import { createTestAuth, type TestAuth } from "./testing.js";
import { signup } from "./users.js";

const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const prefix = `{warden-t-${randomUUID().slice(0, 8)}}`;
let t: TestAuth;
let redis: Redis;
let queue: Queue;
const relays: OutboxRelay[] = [];
const quiet = { info() {}, warn() {} };

beforeAll(async () => {
  t = await createTestAuth();
  redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
  queue = new Queue(REVOCATION_QUEUE, { connection: redis, prefix });
});

afterAll(async () => {
  await Promise.all(relays.map((r) => r.close()));
  await queue.close();
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
  await t.close();
});

it("several relays drain one outbox at once: every event becomes exactly one job (jobId = eventId, ids only)", async () => {
  const user = await signup(t.auth, { email: "relay@example.com", password: "correct horse battery" }, {});
  const eventIds: string[] = [];
  for (let i = 0; i < 20; i++) {
    const { eventId } = await revokeSession(t.auth, {
      sessionId: user.sessionId,
      reason: "r",
      actor: { type: "system", id: null },
    });
    if (eventId && i === 0) eventIds.push(eventId);
    const { eventId: other } = await revokeSession(t.auth, {
      sessionId: (await signup(t.auth, { email: `relay-${i}@example.com`, password: "correct horse battery" }, {})).sessionId,
      reason: "r",
      actor: { type: "system", id: null },
    });
    eventIds.push(other!);
  }
  for (let i = 0; i < 3; i++) {
    relays.push(startOutboxRelay({ db: t.database.db, redis: redisUrl, prefix, logger: quiet, pollIntervalMs: 50 }));
  }
  await new Promise((r) => setTimeout(r, 300));
  await Promise.all(relays.map((r) => r.drain()));

  const [pending] = await t.database.sql<
    { n: number }[]
  >`select count(*)::int as n from outbox_events where published_at is null`;
  expect(pending!.n).toBe(0);
  const jobs = await queue.getJobs(["waiting"]);
  // The revocations, and each signup's own events: user.signed_up and the verification email.
  const signups = await t.database.sql<{ id: string }[]>`
    select id from outbox_events where type in ('user.signed_up', 'email.requested')`;
  expect(signups).toHaveLength(42);
  expect(jobs.map((j) => j.id).sort()).toEqual([...eventIds, ...signups.map((e) => e.id)].sort());
  for (const job of jobs) {
    expect(job.name).toBe(job.data.type);
    expect(job.data.eventId).toBe(job.id);
    expect(JSON.stringify(job.data)).not.toMatch(/refresh|token|password/i);
  }
});

it("a job the queue lost is published again; a valid event whose job failed for good is retried; a malformed one stays failed; at most MAX_PUBLISHES in all", async () => {
  // This test's relay alone, on a queue of its own: the first test's relays and events are done with.
  await Promise.all(relays.splice(0).map((r) => r.close()));
  await t.database.sql`update outbox_events set applied_at = now() where applied_at is null`;
  const ownPrefix = `{warden-t-${randomUUID().slice(0, 8)}}`;
  const ownQueue = new Queue(REVOCATION_QUEUE, { connection: redis, prefix: ownPrefix });
  const relay = startOutboxRelay({
    db: t.database.db,
    redis: redisUrl,
    prefix: ownPrefix,
    logger: quiet,
    pollIntervalMs: 50,
    lostJobCheckMs: 200,
  });
  relays.push(relay);
  // A worker that can never apply: each delivery fails for good (as every attempt does while
  // PostgreSQL is down for minutes), and BullMQ keeps the job in its failed set.
  const workerConnection = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const failing = new Worker(
    REVOCATION_QUEUE,
    async () => {
      throw new UnrecoverableError("cannot apply");
    },
    { connection: workerConnection, prefix: ownPrefix },
  );
  const row = async (id: string) => {
    const [r] = await t.database.sql<{ attempts: number; last_error: string | null; applied_at: Date | null }[]>`
      select attempts, last_error, applied_at from outbox_events where id = ${id}`;
    return r!;
  };
  const state = (id: string) => ownQueue.getJobState(id);
  const revokeOne = async (tag: string) => {
    const user = await signup(t.auth, { email: `${tag}@example.com`, password: "correct horse battery" }, {});
    const { eventId } = await revokeSession(t.auth, {
      sessionId: user.sessionId,
      reason: "r",
      actor: { type: "system", id: null },
    });
    return eventId!;
  };
  try {
    // A malformed row goes out too (the worker fails it visibly); failing never makes it valid.
    const malformed = randomUUID();
    await t.database.sql`insert into outbox_events (id, type, payload, created_at)
      values (${malformed}, 'session.revoked', '{"nonsense": true}'::jsonb, now())`;
    const valid = await revokeOne("failed-job");

    // The valid one is retried each time it fails for good, up to the bound; the malformed one stays failed.
    await waitFor(
      async () => (await row(valid)).attempts === MAX_PUBLISHES && (await state(valid)) === "failed",
      "retried up to the bound",
      30_000,
    );
    expect((await row(valid)).last_error).toMatch(/used up its attempts.*for the last time \(5 publishes\)/);
    await new Promise((r) => setTimeout(r, 1_500));
    expect(await state(valid)).toBe("failed");
    expect(await row(valid)).toMatchObject({ attempts: MAX_PUBLISHES, applied_at: null });
    expect(await state(malformed)).toBe("failed");
    expect(await row(malformed)).toMatchObject({ attempts: 1, applied_at: null });

    // Lost (Redis emptied, or removeOnFail's age): published again, each time, up to the bound.
    await failing.close();
    const lost = await revokeOne("lost-job");
    // The job is in Redis a moment before the transaction that marks the row published commits.
    await waitFor(
      async () => (await state(lost)) === "waiting" && (await row(lost)).attempts === 1,
      "published and marked published",
    );
    expect(await row(lost)).toMatchObject({ attempts: 1, last_error: null });
    await new Promise((r) => setTimeout(r, 1_500));
    expect(await row(lost)).toMatchObject({ attempts: 1, last_error: null });
    for (let publishes = 2; publishes <= MAX_PUBLISHES; publishes++) {
      await (await ownQueue.getJob(lost))!.remove();
      await waitFor(
        async () => (await state(lost)) === "waiting" && (await row(lost)).attempts === publishes,
        `publish ${publishes}`,
      );
      expect((await row(lost)).last_error).toMatch(/the queue had lost its job/);
    }
    expect((await row(lost)).last_error).toMatch(/for the last time \(5 publishes\)/);
    await (await ownQueue.getJob(lost))!.remove();
    await new Promise((r) => setTimeout(r, 2_000));
    expect(await state(lost)).toBe("unknown");
    expect(await row(lost)).toMatchObject({ attempts: MAX_PUBLISHES, applied_at: null });
  } finally {
    await failing.close();
    workerConnection.disconnect();
    await ownQueue.close();
    const keys = await redis.keys(`${ownPrefix}*`);
    if (keys.length) await redis.del(...keys);
  }
}, 60_000);

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
