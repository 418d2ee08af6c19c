import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "@warden/db";
import {
  alive,
  asPostgresUser,
  baseEnv,
  connectionRefused,
  deleteKeys,
  postgresOn,
  spawnNode,
  testPrefix,
  TSX_CLI,
  waitForHealthy,
  type Child,
} from "@warden/testing";
import { Redis } from "ioredis";
import { afterAll, expect, it } from "vitest";

/** `pnpm start` as the root package.json runs it: `tsx apps/dev/src/start.ts`. */
const START = fileURLToPath(new URL("../src/start.ts", import.meta.url));

const home = mkdtempSync(path.join(os.tmpdir(), "warden-start-leftovers-"));
const dataDir = path.join(home, "pg");
const prefix = testPrefix();
const children: Child[] = [];
const unrelated: number[] = [];

afterAll(async () => {
  await Promise.all(children.map((c) => c.stop("SIGKILL")));
  // A PostgreSQL a failed test left running.
  for (const pid of [...postgresOn(dataDir), ...unrelated]) process.kill(pid, "SIGKILL");
  const redis = new Redis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
  await deleteKeys(redis, prefix);
  redis.disconnect();
  rmSync(home, { recursive: true, force: true });
});

/** `pnpm start` with no DATABASE_URL: an embedded PostgreSQL in `dataDir`. */
function start(port: number): Child {
  const child = spawnNode(
    [TSX_CLI, "--conditions=development", START],
    baseEnv({ PORT: String(port), WARDEN_HOME: home, QUEUE_PREFIX: prefix, LOG_LEVEL: "warn", REDIS_URL: process.env.REDIS_URL }),
  );
  children.push(child);
  return child;
}

it("a failure after the embedded PostgreSQL started (PORT taken) is one line, exit code 1, and stops that PostgreSQL", async () => {
  const taken = net.createServer();
  await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
  const port = (taken.address() as net.AddressInfo).port;
  try {
    const child = start(port);
    expect(await child.exited, child.stderr()).toEqual({ code: 1, signal: null });
    expect(child.stderr()).toContain("no DATABASE_URL: starting embedded PostgreSQL");
    expect(child.stderr()).toMatch(/^warden: could not start: .*EADDRINUSE.*$/m);
    expect(child.stderr()).not.toMatch(/\s+at /);
    expect(postgresOn(dataDir)).toEqual([]);
  } finally {
    taken.close();
  }
}, 120_000);

it("a postmaster.pid left by a killed PostgreSQL does not keep `pnpm start` from starting, and SIGTERM leaves nothing running", async () => {
  // The PostgreSQL that wrote it is gone, and its pid now belongs to an unrelated process of
  // PostgreSQL's user (after a container restart, pids are handed out again from the start).
  const sleeper = spawn("sleep", ["120"], { stdio: "ignore", ...asPostgresUser() });
  unrelated.push(sleeper.pid!);
  writeFileSync(path.join(dataDir, "postmaster.pid"), `${sleeper.pid}\n${dataDir}\n${Math.floor(Date.now() / 1000)}\n5432\n`);

  const port = await freePort();
  const child = start(port);
  await waitForHealthy(`http://127.0.0.1:${port}`, child, 90_000);
  expect(postgresOn(dataDir)).toHaveLength(1);
  expect(alive(sleeper.pid!)).toBe(true);

  await child.stop("SIGTERM");
  expect(await child.exited, child.stderr()).toEqual({ code: 0, signal: null });
  expect(postgresOn(dataDir)).toEqual([]);
  expect(await connectionRefused(port)).toBe(true);
  expect(readFileSync(path.join(dataDir, "PG_VERSION"), "utf8")).toMatch(/^\d+/);
  sleeper.kill("SIGKILL");
}, 120_000);
