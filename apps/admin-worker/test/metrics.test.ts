import { randomUUID } from "node:crypto";
import { signUp } from "@warden/api/testing";
import { revokeSession, revokeUserSessions } from "@warden/auth";
import { createTestKeyRing } from "@warden/auth/testing";
import { REVOCATION_QUEUE, revocationFeedKeys } from "@warden/contracts";
import { outboxEvents } from "@warden/db";
import { createTestDatabase, type TestDatabase } from "@warden/db/testing";
import { ownRedis, scrapeMetrics, type MetricsScrape, type OwnRedis } from "@warden/testing";
import { startAdminWorker, type AdminWorker } from "@warden/worker";
import { Queue } from "bullmq";
import { and, inArray, isNotNull } from "drizzle-orm";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ACCESS_TOKEN_TTL_MS, quietLogger, startInstance, testPrefix, waitFor, type Instance } from "./support.js";

const METRICS_TOKEN = `metrics-${randomUUID()}`;
const password = "correct horse battery";
const prefix = testPrefix();
/** A Redis of this test's own: the last test stops it under a scrape. */
let redis: OwnRedis;
let database: TestDatabase;
let a: Instance;
let worker: AdminWorker;
let client: Redis;
let queue: Queue;

beforeAll(async () => {
  redis = await ownRedis();
  database = await createTestDatabase();
  a = await startInstance(database, { redisUrl: redis.url, prefix, keys: createTestKeyRing() });
  worker = await startAdminWorker({
    databaseUrl: database.url,
    redis: redis.url,
    prefix,
    accessTokenTtlMs: ACCESS_TOKEN_TTL_MS,
    refreshTokenTtlMs: 7 * 86_400_000,
    feedCheckEveryMs: 200,
    metrics: { port: 0, token: METRICS_TOKEN },
    logger: quietLogger,
  });
  await a.feed.ready();
  client = new Redis(redis.url, { maxRetriesPerRequest: null });
  client.on("error", () => {});
  queue = new Queue(REVOCATION_QUEUE, { connection: client, prefix });
  queue.on("error", () => {});
});

afterAll(async () => {
  await queue?.close();
  client?.disconnect();
  await worker?.close();
  await a?.close();
  await redis?.stop();
  await database?.drop();
});

const scrape = () => scrapeMetrics(worker.metricsUrl!, METRICS_TOKEN);
const moved =
  (before: MetricsScrape, after: MetricsScrape) =>
  (name: string, labels: Record<string, string> = {}) =>
    after.value(name, labels) - before.value(name, labels);
const revocationJobs = (s: MetricsScrape, state: string) => s.value("warden_queue_jobs", { queue: REVOCATION_QUEUE, state });

async function newSession() {
  return signUp(a.auth, { email: `m-${randomUUID()}@example.com`, password });
}

/** Waits until the worker has applied these events (outbox applied_at). */
async function applied(eventIds: string[]) {
  await waitFor(
    async () => {
      const done = await database.db
        .select({ id: outboxEvents.id })
        .from(outboxEvents)
        .where(and(inArray(outboxEvents.id, eventIds), isNotNull(outboxEvents.appliedAt)));
      return done.length === eventIds.length;
    },
    15_000,
    "events applied",
  );
}

describe("the admin worker's metrics on METRICS_PORT", () => {
  it("METRICS_TOKEN: 401 without it, 200 with it", async () => {
    expect(worker.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    expect((await scrapeMetrics(worker.metricsUrl!)).status).toBe(401);
    const scraped = await scrape();
    expect(scraped.status).toBe(200);
    expect(scraped.value("warden_process_resident_memory_bytes")).toBeGreaterThan(0);
  });

  it("applied events are counted by type with their lag from commit to applied; the feed gauges follow", async () => {
    const before = await scrape();
    const one = await newSession();
    const { eventId: sessionEvent } = await revokeSession(a.auth, {
      sessionId: one.sessionId,
      reason: "metrics",
      actor: { type: "system", id: null },
    });
    const two = await newSession();
    const { eventId: userEvent } = await revokeUserSessions(a.auth, {
      userId: two.user.id,
      reason: "metrics",
      actor: { type: "system", id: null },
    });
    await applied([sessionEvent!, userEvent!]);
    const after = await scrape();
    const delta = moved(before, after);
    expect(delta("warden_revocation_jobs_total", { type: "session.revoked", outcome: "applied" })).toBe(1);
    expect(delta("warden_revocation_jobs_total", { type: "user.revoked", outcome: "applied" })).toBe(1);
    // The two revocations (each signup's verification email is an event of its own, counted apart).
    const revocationsOnly = (name: string) => delta(name, { type: "session.revoked" }) + delta(name, { type: "user.revoked" });
    expect(revocationsOnly("warden_revocation_apply_lag_seconds_count")).toBe(2);
    const lagSum = revocationsOnly("warden_revocation_apply_lag_seconds_sum");
    expect(lagSum).toBeGreaterThan(0);
    expect(lagSum).toBeLessThan(30);
    expect(after.value("warden_revocation_feed_entries", { set: "sessions" })).toBeGreaterThanOrEqual(2);
    expect(after.value("warden_revocation_feed_complete")).toBe(1);
    expect(after.value("warden_revocation_feed_lag_events")).toBe(0);
    console.log("worker, two revocations:", {
      applied: delta("warden_revocation_jobs_total", { outcome: "applied" }),
      "mean apply lag seconds": lagSum / 2,
      "lag <= 0.25 s": delta("warden_revocation_apply_lag_seconds_bucket", { le: "0.25" }),
      "feed session entries": after.value("warden_revocation_feed_entries", { set: "sessions" }),
    });
  });

  it("queue gauges show jobs waiting while the worker is paused and drain when it resumes; a failed job is counted and kept", async () => {
    await worker.revocations.pause();
    const eventIds: string[] = [];
    for (let i = 0; i < 3; i++) {
      const { sessionId } = await newSession();
      const { eventId } = await revokeSession(a.auth, { sessionId, reason: "metrics", actor: { type: "system", id: null } });
      eventIds.push(eventId!);
    }
    const paused = await waitFor(
      async () => {
        const s = await scrape();
        return revocationJobs(s, "waiting") >= 3 && s;
      },
      10_000,
      "three waiting jobs in the gauges",
    );
    await worker.revocations.resume();
    await applied(eventIds);
    // The sign-ups' own events (their emails, user.signed_up) drain with them.
    const resumed = await waitFor(
      async () => {
        const s = await scrape();
        return revocationJobs(s, "waiting") === 0 && revocationJobs(s, "active") === 0 && s;
      },
      10_000,
      "the queue drained in the gauges",
    );
    expect(moved(paused, resumed)("warden_revocation_jobs_total", { type: "session.revoked", outcome: "applied" })).toBe(3);

    // A job whose data is no event fails for good: counted under `unknown`, kept in the failed set.
    await queue.add("garbage", { nonsense: true }, { jobId: randomUUID(), attempts: 1 });
    const failed = await waitFor(
      async () => {
        const s = await scrape();
        return revocationJobs(s, "failed") >= 1 && s.value("warden_revocation_jobs_total", { outcome: "failed" }) >= 1 && s;
      },
      10_000,
      "a failed job in the gauges",
    );
    expect(failed.value("warden_revocation_jobs_total", { type: "unknown", outcome: "failed" })).toBe(1);
    console.log("worker queue:", {
      "waiting while paused": revocationJobs(paused, "waiting"),
      "waiting after resume": revocationJobs(resumed, "waiting"),
      failed: revocationJobs(failed, "failed"),
    });
  });

  it("a feed lost from Redis is rebuilt, and the rebuild is counted", async () => {
    const before = await scrape();
    const keys = revocationFeedKeys(prefix);
    await client.del(keys.sessions, keys.notBefore);
    const rebuilt = await waitFor(
      async () => {
        const s = await scrape();
        return moved(before, s)("warden_revocation_feed_rebuilds_total", { reason: "missing" }) >= 1 && s;
      },
      10_000,
      "a rebuild counted",
    );
    expect(rebuilt.value("warden_revocation_feed_complete")).toBe(1);
    expect(rebuilt.value("warden_revocation_feed_entries", { set: "sessions" })).toBeGreaterThanOrEqual(5);
  });

  it("with Redis down a scrape still answers within a couple of seconds (the Redis gauges NaN), and they come back with it", async () => {
    await redis.stop();
    let seconds: number;
    try {
      const started = performance.now();
      const down = await scrape();
      seconds = (performance.now() - started) / 1000;
      expect(down.status).toBe(200);
      expect(seconds).toBeLessThan(3);
      expect(revocationJobs(down, "waiting")).toBeNaN();
      expect(down.value("warden_revocation_feed_entries", { set: "sessions" })).toBeNaN();
      expect(down.value("warden_revocation_jobs_total", { outcome: "applied" })).toBeGreaterThanOrEqual(5);
    } finally {
      await redis.start();
    }
    // Back empty: the queue counts read 0 again, and the worker rebuilds the feed it lost.
    const back = await waitFor(
      async () => {
        const s = await scrape();
        return revocationJobs(s, "waiting") === 0 && s.value("warden_revocation_feed_complete") === 1 && s;
      },
      15_000,
      "the Redis gauges back",
    );
    expect(back.value("warden_revocation_feed_lag_events")).toBe(0);
    console.log("worker scrape with Redis down:", { seconds: Number(seconds.toFixed(2)) });
  });
});
