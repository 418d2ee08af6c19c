import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "@warden/db";
import { baseEnv, deleteKeys, postgresOn, spawnNode, testPrefix, TSX_CLI, waitForHealthy, type Child } from "@warden/testing";
import { Redis } from "ioredis";
import { afterAll, expect, it } from "vitest";

/** `pnpm start` as the root package.json runs it: `tsx --conditions=development apps/dev/src/start.ts`. */
const START = fileURLToPath(new URL("../src/start.ts", import.meta.url));

const dir = mkdtempSync(path.join(os.tmpdir(), "warden-start-private-"));
// mkdtemp makes it private too: only the folder below is meant to be.
chmodSync(dir, 0o755);
/** A private folder (a home directory, mode 0700) holding WARDEN_HOME. */
const closed = path.join(dir, "home");
const home = path.join(closed, ".warden");
const prefix = testPrefix();
const children: Child[] = [];

afterAll(async () => {
  await Promise.all(children.map((c) => c.stop("SIGKILL")));
  for (const pid of postgresOn(path.join(home, "pg"))) process.kill(pid, "SIGKILL");
  const redis = new Redis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
  await deleteKeys(redis, prefix);
  redis.disconnect();
  rmSync(dir, { recursive: true, force: true });
});

it("`pnpm start` with its data under a private folder: as root, one line naming the folder the postgres user cannot enter and the fix, exit code 1, at once", async () => {
  mkdirSync(closed, { mode: 0o700 });
  chmodSync(closed, 0o700);
  const port = await freePort();
  const child = spawnNode(
    [TSX_CLI, "--conditions=development", START],
    baseEnv({ PORT: String(port), WARDEN_HOME: home, QUEUE_PREFIX: prefix, LOG_LEVEL: "warn", REDIS_URL: process.env.REDIS_URL }),
  );
  children.push(child);
  if (process.getuid?.() !== 0) {
    // PostgreSQL runs as this user, who may enter its own private folders.
    await waitForHealthy(`http://127.0.0.1:${port}`, child, 90_000);
    await child.stop("SIGTERM");
    return;
  }
  const started = Date.now();
  expect(await child.exited, child.stderr()).toEqual({ code: 1, signal: null });
  expect(Date.now() - started).toBeLessThan(20_000);
  expect(child.stderr()).toContain(
    `\nwarden: could not start: PostgreSQL runs as the postgres user (never as root), who cannot enter ${closed} on the way to its data directory (${path.join(home, "pg")}): chmod o+x ${closed}, or move the data directory out of it\n`,
  );
  expect(child.stderr()).not.toMatch(/\s+at /);
  expect(existsSync(path.join(home, "pg", "PG_VERSION"))).toBe(false);
  expect(postgresOn(path.join(home, "pg"))).toEqual([]);
});
