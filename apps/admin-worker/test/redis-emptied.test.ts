import { createTestKeyRing } from "@warden/auth/testing";
import { MAINTENANCE_QUEUE } from "@warden/contracts";
import { createTestDatabase, type TestDatabase } from "@warden/db/testing";
import { ownRedis, type OwnRedis } from "@warden/testing";
import { MAINTENANCE_SCHEDULER_ID, type AdminWorker } from "@warden/worker";
import { Queue } from "bullmq";
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
