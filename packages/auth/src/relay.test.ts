import { randomUUID } from "node:crypto";
import { REVOCATION_QUEUE } from "@warden/contracts";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { afterAll, beforeAll, expect, it } from "vitest";
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
  expect(jobs.map((j) => j.id).sort()).toEqual([...eventIds].sort());
  for (const job of jobs) {
    expect(job.name).toBe(job.data.type);
    expect(job.data.eventId).toBe(job.id);
    expect(JSON.stringify(job.data)).not.toMatch(/refresh|token|password/i);
  }
});
