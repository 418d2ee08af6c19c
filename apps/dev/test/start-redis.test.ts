import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "@warden/db";
import { createTestDatabase, type TestDatabase } from "@warden/db/testing";
import { Redis } from "ioredis";
import {
  baseEnv,
  connectionRefused,
  deleteKeys,
  spawnNode,
  testPrefix,
  TSX_CLI,
  waitFor,
  waitForHealthy,
  type Child,
} from "@warden/testing";
import { afterAll, beforeAll, expect, it } from "vitest";

/** `pnpm start` as the root package.json runs it: `tsx apps/dev/src/start.ts`. */
const START = fileURLToPath(new URL("../src/start.ts", import.meta.url));

const home = mkdtempSync(path.join(os.tmpdir(), "warden-start-redis-"));
const prefix = testPrefix();
let database: TestDatabase;
const children: Child[] = [];
/** Where the first test lets start launch redis-server. */
let launchedRedisUrl: string | undefined;

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => {
  await Promise.all(children.map((c) => c.stop("SIGKILL")));
  // A redis-server a failed test left running.
  if (launchedRedisUrl && !(await connectionRefused(Number(new URL(launchedRedisUrl).port)))) {
    process.kill(await redisPid(launchedRedisUrl), "SIGKILL");
  }
  const redis = new Redis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
  await deleteKeys(redis, prefix);
  redis.disconnect();
  await database?.drop();
  rmSync(home, { recursive: true, force: true });
});

/** A live process (a zombie, exited but not yet reaped, counts as gone). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

/** `pnpm start`. */
function start(env: NodeJS.ProcessEnv): Child {
  const child = spawnNode([TSX_CLI, "--conditions=development", START], env);
  children.push(child);
  return child;
}

async function redisPid(url: string): Promise<number> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    const info = await redis.info("server");
    return Number(/process_id:(\d+)/.exec(info)![1]);
  } finally {
    redis.disconnect();
  }
}

it("with nothing at REDIS_URL, `pnpm start` runs redis-server there, and stops it on SIGTERM", async () => {
  const redisPort = await freePort();
  const redisUrl = (launchedRedisUrl = `redis://127.0.0.1:${redisPort}`);
  const port = await freePort();
  const child = start(
    baseEnv({
      PORT: String(port),
      DATABASE_URL: database.url,
      REDIS_URL: redisUrl,
      QUEUE_PREFIX: prefix,
      WARDEN_HOME: path.join(home, "with-redis"),
      LOG_LEVEL: "warn",
    }),
  );
  const health = await waitForHealthy(`http://127.0.0.1:${port}`, child, 90_000);
  expect(health).toEqual({ ok: true, db: "up", redis: "up", warnings: [] });
  expect(child.stderr()).toContain(`starting redis-server on port ${redisPort}`);
  const pid = await redisPid(redisUrl);
  expect(alive(pid)).toBe(true);

  await child.stop("SIGTERM");
  expect(await child.exited, child.stderr()).toEqual({ code: 0, signal: null });
  // Gone with it, not left behind holding the port.
  await waitFor(() => !alive(pid), 10_000, `redis-server (pid ${pid}) gone`);
  expect(await connectionRefused(redisPort)).toBe(true);
}, 180_000);

it("with nothing at REDIS_URL and no redis-server on PATH, `pnpm start` exits 1 with one line saying what to install", async () => {
  // A PATH with node and nothing else.
  const bin = path.join(home, "bin");
  mkdirSync(bin);
  symlinkSync(process.execPath, path.join(bin, "node"));
  const redisPort = await freePort();
  const warden = path.join(home, "without-redis");
  const child = start({
    PATH: bin,
    HOME: process.env.HOME,
    REDIS_URL: `redis://127.0.0.1:${redisPort}`,
    WARDEN_HOME: warden,
    PORT: String(await freePort()),
  });

  const exit = await child.exited;
  expect(exit, child.stderr()).toEqual({ code: 1, signal: null });
  expect(child.stderr()).toBe(
    `warden: nothing answers at redis://127.0.0.1:${redisPort} and redis-server is not installed: install Redis (e.g. apt-get install redis-server) or set REDIS_URL\n`,
  );
  // Checked before anything was started: no embedded PostgreSQL, nothing written.
  expect(existsSync(warden)).toBe(false);
}, 120_000);
