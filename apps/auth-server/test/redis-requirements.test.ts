import { generateDataKey, generateEs256PrivateKeyPem } from "@warden/auth";
import { createTestDatabase, type TestDatabase } from "@warden/db/testing";
import { serverEnvSchema, startAuthServer, type RunningServer } from "@warden/server";
import { LogCapture, ownRedis, testPrefix, waitFor, type OwnRedis } from "@warden/testing";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";

let database: TestDatabase;
let redis: OwnRedis | undefined;
let server: RunningServer | undefined;

beforeAll(async () => {
  database = await createTestDatabase();
});
afterEach(async () => {
  await server?.close();
  await redis?.stop();
  server = undefined;
  redis = undefined;
});
afterAll(async () => {
  await database?.drop();
});

/** The production wiring, logging to `logs`, on this test's own redis-server. */
async function start(redisUrl: string, logs: LogCapture): Promise<RunningServer> {
  const env = serverEnvSchema.parse({
    PORT: "0",
    HOST: "127.0.0.1",
    DATABASE_URL: database.url,
    REDIS_URL: redisUrl,
    QUEUE_PREFIX: testPrefix(),
    JWT_PRIVATE_KEY: generateEs256PrivateKeyPem(),
    WARDEN_DATA_KEY: generateDataKey(),
    LOG_LEVEL: "info",
    RATE_LIMITS: "false",
  });
  return startAuthServer(env, { logDestination: logs });
}

async function health(url: string) {
  const body = (await (await fetch(`${url}/trpc/health`)).json()) as { result: { data: Record<string, unknown> } };
  return body.result.data as { ok: boolean; db: string; redis: string; warnings: string[] };
}

const logLines = (logs: LogCapture) => logs.lines.flatMap((l) => l.split("\n").filter(Boolean)).map((l) => JSON.parse(l));

it("maxmemory-policy allkeys-lru: health warns and the log says what to set; Redis back as a noeviction server: warnings: []", async () => {
  redis = await ownRedis({ args: ["--maxmemory-policy", "allkeys-lru"] });
  const logs = new LogCapture();
  server = await start(redis.url, logs);

  const first = await health(server.url);
  expect(first).toMatchObject({ ok: true, db: "up", redis: "up" });
  expect(first.warnings).toHaveLength(1);
  expect(first.warnings[0]).toMatch(/maxmemory-policy is "allkeys-lru", Warden needs "noeviction"/);
  expect(first.warnings[0]).toMatch(/BullMQ loses revocation jobs/);
  expect(first.warnings[0]).toMatch(/revocation feed loses entries/);
  const healthz = (await (await fetch(`${server.url}/healthz`)).json()) as { warnings: string[] };
  expect(healthz.warnings).toEqual(first.warnings);
  const logged = logLines(logs).filter((l) => l.maxmemoryPolicy === "allkeys-lru");
  expect(logged).toHaveLength(1);
  expect(logged[0]).toMatchObject({ level: 50, msg: first.warnings[0] });
  console.log(`logged at start: ${JSON.stringify(logged[0])}`);

  // The same address comes back as another server (restart, failover), configured as it should be.
  await redis.stop();
  await redis.start([]);
  const restartedAt = Date.now();
  const fixed = await waitFor(
    async () => {
      const now = await health(server!.url);
      return now.ok && now.warnings.length === 0 && now;
    },
    15_000,
    "health without warnings after the reconnect",
  );
  console.log(`warnings cleared ${Date.now() - restartedAt} ms after Redis came back with noeviction`);
  expect(fixed).toEqual({ ok: true, db: "up", redis: "up", warnings: [] });
  expect(logLines(logs).some((l) => l.level === 30 && /maxmemory-policy is "noeviction" now/.test(l.msg))).toBe(true);
});

it("maxmemory-policy noeviction: health has warnings: [] and nothing is logged about it", async () => {
  redis = await ownRedis();
  const logs = new LogCapture();
  server = await start(redis.url, logs);
  expect(await health(server.url)).toEqual({ ok: true, db: "up", redis: "up", warnings: [] });
  expect(logs.text).not.toMatch(/maxmemory/);
});

it("CONFIG refused (managed Redis): the policy is read from INFO; INFO refused too: 'could not read maxmemory-policy'", async () => {
  redis = await ownRedis({ args: ["--maxmemory-policy", "allkeys-lru", "--rename-command", "CONFIG", ""] });
  const logs = new LogCapture();
  server = await start(redis.url, logs);
  const [fromInfo] = (await health(server.url)).warnings;
  expect(fromInfo).toMatch(/maxmemory-policy is "allkeys-lru"/);
  await server.close();

  // An ACL that refuses CONFIG and INFO, as some providers' users do.
  const admin = new Redis(redis.url);
  await admin.call("ACL", "SETUSER", "default", "-config", "-info");
  admin.disconnect();
  const refusedLogs = new LogCapture();
  server = await start(redis.url, refusedLogs);
  const refused = await health(server.url);
  expect(refused).toMatchObject({ ok: true, redis: "up" });
  expect(refused.warnings).toHaveLength(1);
  expect(refused.warnings[0]).toMatch(/^could not read maxmemory-policy of Redis \(.*NOPERM.*\): make sure it is "noeviction"/);
  const logged = logLines(refusedLogs).find((l) => /could not read maxmemory-policy/.test(l.msg));
  expect(logged).toMatchObject({ level: 40 });
  console.log(`refused: ${refused.warnings[0]}`);
});
