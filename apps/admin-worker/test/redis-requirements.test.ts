import { createTestDatabase, type TestDatabase } from "@warden/db/testing";
import { LogCapture, ownRedis, type OwnRedis } from "@warden/testing";
import { startAdminWorker, type AdminWorker } from "@warden/worker";
import pino from "pino";
import { afterAll, beforeAll, expect, it } from "vitest";
import { ACCESS_TOKEN_TTL_MS, testPrefix, waitFor } from "./support.js";

let database: TestDatabase;
let redis: OwnRedis;
let worker: AdminWorker | undefined;

beforeAll(async () => {
  database = await createTestDatabase();
  redis = await ownRedis({ args: ["--maxmemory-policy", "allkeys-lru"] });
});
afterAll(async () => {
  await worker?.close();
  await redis?.stop();
  await database?.drop();
});

const logLines = (logs: LogCapture) => logs.lines.flatMap((l) => l.split("\n").filter(Boolean)).map((l) => JSON.parse(l));

it("the worker logs an error saying what to set when maxmemory-policy is not noeviction, checked again when Redis comes back", async () => {
  const logs = new LogCapture();
  worker = await startAdminWorker({
    databaseUrl: database.url,
    redis: redis.url,
    prefix: testPrefix(),
    accessTokenTtlMs: ACCESS_TOKEN_TTL_MS,
    refreshTokenTtlMs: 7 * 86_400_000,
    logger: pino({ level: "info" }, logs),
  });
  // Logged before start resolves: an operator sees it among the first lines.
  const atStart = logLines(logs).filter((l) => l.maxmemoryPolicy === "allkeys-lru");
  expect(atStart).toHaveLength(1);
  expect(atStart[0]).toMatchObject({ level: 50 });
  expect(atStart[0].msg).toMatch(/maxmemory-policy is "allkeys-lru", Warden needs "noeviction".*BullMQ loses revocation jobs/);
  console.log(`worker logged: ${atStart[0].msg}`);

  // Back as a server that is configured as it should be: the worker says so.
  await redis.stop();
  await redis.start([]);
  await waitFor(
    () => logLines(logs).some((l) => /maxmemory-policy is "noeviction" now/.test(l.msg)),
    15_000,
    "the worker noticing noeviction after the reconnect",
  );
  // And back as one that is not: logged again.
  await redis.stop();
  await redis.start(["--maxmemory-policy", "volatile-lru"]);
  const again = await waitFor(
    () => logLines(logs).find((l) => l.maxmemoryPolicy === "volatile-lru"),
    15_000,
    "the worker noticing volatile-lru after the reconnect",
  );
  expect(again).toMatchObject({ level: 50 });
});
