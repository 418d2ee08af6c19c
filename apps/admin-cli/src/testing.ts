import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startAdminWorker, type AdminWorker } from "@warden/admin-worker";
import { generateDataKey } from "@warden/auth";
import { serverEnvSchema, startAuthServer, type RunningServer } from "@warden/server";
import { createTestDatabase, type TestDatabase } from "@warden/db/testing";
import { Redis } from "ioredis";
import pino from "pino";

export const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

export interface WardenSystem {
  url: string;
  database: TestDatabase;
  admin: { email: string; password: string };
  /** Stops the worker only (revocations then stay pending); `startWorker` brings it back. */
  stopWorker(): Promise<void>;
  startWorker(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The real thing for end-to-end tests: a fresh database, the auth server as `pnpm start` runs it
 * (relay, feed, HTTP on port 0) and one admin worker, on a Redis prefix of their own. `env`
 * overrides the server's settings.
 */
export async function startWardenSystem(options: { consoleDir?: string; env?: Record<string, string> } = {}): Promise<WardenSystem> {
  const database = await createTestDatabase();
  const prefix = `{warden-t-${randomUUID().slice(0, 8)}}`;
  const admin = { email: "root@example.com", password: "correct horse battery" };
  const server: RunningServer = await startAuthServer(
    serverEnvSchema.parse({
      PORT: "0",
      DATABASE_URL: database.url,
      REDIS_URL,
      QUEUE_PREFIX: prefix,
      RELAY_POLL_INTERVAL: "200ms",
      JWT_ALG: "HS256",
      JWT_SECRET: randomUUID() + randomUUID(),
      WARDEN_DATA_KEY: generateDataKey(),
      WARDEN_ADMIN_EMAIL: admin.email,
      WARDEN_ADMIN_PASSWORD: admin.password,
      COOKIE_SECURE: "false",
      RATE_LIMITS: "false",
      LOG_LEVEL: "silent",
      ...(options.consoleDir ? { CONSOLE_DIR: options.consoleDir } : {}),
      // Overrides for a test's own needs (rate limits on, short budgets, ...).
      ...options.env,
    }),
  );
  let worker: AdminWorker | undefined;
  const startWorker = async () => {
    worker = await startAdminWorker({
      databaseUrl: database.url,
      redisUrl: REDIS_URL,
      prefix,
      accessTokenTtlMs: 15 * 60_000,
      refreshTokenTtlMs: 7 * 86_400_000,
      logger: pino({ level: "silent" }),
    });
  };
  const stopWorker = async () => {
    await worker?.close();
    worker = undefined;
  };
  await startWorker();
  return {
    url: server.url,
    database,
    admin,
    startWorker,
    stopWorker,
    async close() {
      await stopWorker();
      await server.close();
      await database.close();
      const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
      redis.on("error", () => {});
      try {
        const keys = await redis.keys(`${prefix}*`);
        if (keys.length) await redis.del(...keys);
      } finally {
        redis.disconnect();
      }
    },
  };
}

const MAIN = fileURLToPath(new URL("./main.ts", import.meta.url));
/** `--import tsx` resolves from the working directory: this package, which depends on tsx. */
const PACKAGE_DIR = fileURLToPath(new URL("..", import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `warden <args>` as its own process, the way an admin or a script does. */
export function runWarden(args: string[], env: Record<string, string | undefined> = {}, options: { input?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawnWarden(args, env);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(options.input ?? "");
  });
}

/** Starts `warden <args>` with a clean environment (plus `env`); stdio piped, so not a TTY. */
export function spawnWarden(args: string[], env: Record<string, string | undefined> = {}): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, ["--conditions=development", "--import", "tsx", MAIN, ...args], {
    cwd: PACKAGE_DIR,
    env: cleanEnv(env),
    stdio: ["pipe", "pipe", "pipe"],
  });
}

function cleanEnv(env: Record<string, string | undefined>): Record<string, string> {
  const all: Record<string, string | undefined> = { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: "1", ...env };
  return Object.fromEntries(Object.entries(all).filter((e): e is [string, string] => e[1] !== undefined));
}

/** Runs `warden <args>` on a pseudo-terminal (util-linux `script`), to see what a person sees. */
export function runWardenInTerminal(args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  const quote = (a: string) => `'${a.replaceAll("'", "'\\''")}'`;
  const command = [process.execPath, "--conditions=development", "--import", "tsx", MAIN, ...args].map(quote).join(" ");
  return new Promise((resolve, reject) => {
    // A pty made by `script` has no size until told; give it a usual one.
    const child = spawn("script", ["-qec", `stty cols 120 rows 40; ${command}`, "/dev/null"], { cwd: PACKAGE_DIR, env: cleanEnv(env), stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr: "" }));
    child.stdin.end();
  });
}

/** A config directory of the test's own, so no real ~/.config/warden is touched. */
export async function tempConfigDir(): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "warden-cli-"));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}
