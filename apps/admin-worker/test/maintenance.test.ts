import { MAINTENANCE_QUEUE } from "@warden/contracts";
import { createTestDatabase, type TestDatabase } from "@warden/db/testing";
import { Queue, type Job } from "bullmq";
import { Redis } from "ioredis";
import { afterAll, beforeAll, expect, it } from "vitest";
import { MAINTENANCE_SCHEDULER_ID, startAdminWorker, type AdminWorker } from "@warden/worker";
import { ACCESS_TOKEN_TTL_MS, deletePrefix, quietLogger, REDIS_URL, testPrefix, waitFor } from "./support.js";

const prefix = testPrefix();
const EVERY_MS = 1000;
let database: TestDatabase;
let connection: Redis;
let queue: Queue;
const workers: AdminWorker[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  queue = new Queue(MAINTENANCE_QUEUE, { connection, prefix });
});

afterAll(async () => {
  await Promise.all(workers.map((w) => w.close()));
  await queue?.close();
  connection?.disconnect();
  await deletePrefix(REDIS_URL, prefix);
  await database?.drop();
});

async function startWorker(): Promise<AdminWorker> {
  const worker = await startAdminWorker({
    databaseUrl: database.url,
    redis: REDIS_URL,
    prefix,
    accessTokenTtlMs: ACCESS_TOKEN_TTL_MS,
    refreshTokenTtlMs: 7 * 86_400_000,
    maintenanceEveryMs: EVERY_MS,
    logger: quietLogger,
  });
  workers.push(worker);
  return worker;
}

/** The time slot a scheduled job was made for: BullMQ names it `repeat:<scheduler id>:<slot ms>`. */
function slotOf(job: Job): number {
  const match = /^repeat:(.+):(\d+)$/.exec(job.id ?? "");
  expect(match?.[1], job.id).toBe(MAINTENANCE_SCHEDULER_ID);
  return Number(match![2]);
}

it("two workers on one queue prefix keep one maintenance schedule: prune runs once per period, not twice", async () => {
  const runs: { worker: string; job: Job }[] = [];
  const first = await startWorker();
  first.maintenance.on("completed", (job: Job) => runs.push({ worker: "first", job }));
  await waitFor(() => runs.length > 0, 30_000, "a first prune run");

  // The second worker upserts the schedule again while the first one's is running.
  const second = await startWorker();
  second.maintenance.on("completed", (job: Job) => runs.push({ worker: "second", job }));
  const before = runs.length;
  await waitFor(() => runs.length >= before + 4, 60_000, "four more prune runs with both workers up");

  const schedulers = await queue.getJobSchedulers();
  expect(schedulers).toHaveLength(1);
  expect(schedulers[0]).toMatchObject({ key: MAINTENANCE_SCHEDULER_ID, every: EVERY_MS });

  const slots = runs.map((r) => slotOf(r.job));
  console.log(`prune runs (worker, slot): ${runs.map((r, i) => `${r.worker} ${slots[i]}`).join(", ")}`);
  for (const { job } of runs) expect(job.repeatJobKey).toBe(MAINTENANCE_SCHEDULER_ID);
  // Each period's job ran once, by one worker: no slot twice, and no two slots within one period.
  expect(new Set(slots).size).toBe(slots.length);
  const sorted = [...slots].sort((a, b) => a - b);
  for (let i = 1; i < sorted.length; i++) expect(sorted[i]! - sorted[i - 1]!).toBeGreaterThanOrEqual(EVERY_MS);
});
