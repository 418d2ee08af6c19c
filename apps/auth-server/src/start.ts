/**
 * `pnpm start`: the whole system on one machine. Uses DATABASE_URL when given, else an embedded
 * PostgreSQL under .warden/; REDIS_URL (default local), starting redis-server when nothing
 * answers and it is installed; a dev signing key and a dev data key kept under .warden/ when none
 * is configured.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { chmodSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { generateDataKey, generateEs256PrivateKeyPem } from "@warden/auth";
import { freePort, startEmbeddedPostgres, type EmbeddedDatabase } from "@warden/db";
import { Redis } from "ioredis";
import { loadEnv } from "./env.js";
import { closeOnSignals, startAuthServer } from "@warden/server";

const home = path.resolve(process.env.WARDEN_HOME ?? ".warden");
const children: ChildProcess[] = [];

function say(line: string) {
  process.stderr.write(`warden: ${line}\n`);
}

async function redisAnswers(url: string): Promise<boolean> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1500 });
  client.on("error", () => {});
  try {
    await client.connect();
    return (await client.ping()) === "PONG";
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

async function ensureRedis(url: string): Promise<void> {
  if (await redisAnswers(url)) return;
  const hasRedis = spawnSync("redis-server", ["--version"], { stdio: "ignore" }).status === 0;
  if (!hasRedis) {
    say(`nothing answers at ${url} and redis-server is not installed: install Redis (e.g. apt-get install redis-server) or set REDIS_URL`);
    process.exit(1);
  }
  const port = new URL(url).port || "6379";
  say(`starting redis-server on port ${port}`);
  const child = spawn("redis-server", ["--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
    stdio: "ignore",
  });
  children.push(child);
  for (let i = 0; i < 50; i++) {
    if (await redisAnswers(url)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  say(`redis-server did not answer at ${url}`);
  process.exit(1);
}

function ensureDevKey(): void {
  if (process.env.JWT_PRIVATE_KEY || process.env.JWT_PRIVATE_KEY_FILE || process.env.JWT_SECRET || process.env.JWT_SECRET_FILE) return;
  const file = path.join(home, "dev-signing-key.pem");
  if (!existsSync(file)) {
    writeFileSync(file, generateEs256PrivateKeyPem(), { mode: 0o600 });
    say(`generated a development signing key in ${file}`);
  }
  chmodSync(file, 0o600);
  process.env.JWT_PRIVATE_KEY_FILE = file;
}

/** Kept across restarts, like the signing key: a grace retry after a restart still gets its successor. */
function ensureDevDataKey(): void {
  if (process.env.WARDEN_DATA_KEY || process.env.WARDEN_DATA_KEY_FILE) return;
  const file = path.join(home, "data-key");
  if (!existsSync(file)) {
    writeFileSync(file, `${generateDataKey()}\n`, { mode: 0o600 });
    say(`generated a development data key in ${file}`);
  }
  chmodSync(file, 0o600);
  process.env.WARDEN_DATA_KEY_FILE = file;
}

const WORKER_MAIN = fileURLToPath(new URL("../../admin-worker/src/main.ts", import.meta.url));

/** The admin worker as a child process with the same environment (migrations already applied). */
function startAdminWorker(): ChildProcess {
  const child = spawn(process.execPath, ["--import", "tsx", WORKER_MAIN], { env: process.env, stdio: ["ignore", "inherit", "inherit"] });
  child.once("exit", (code, signal) => {
    if (!stopping) say(`admin worker exited (${signal ?? code}); revocations wait in the queue until a worker runs`);
  });
  return child;
}

/** SIGTERM, and wait until it has exited. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGTERM");
  await exited;
}

let stopping = false;
process.on("SIGTERM", () => (stopping = true));
process.on("SIGINT", () => (stopping = true));

let embedded: EmbeddedDatabase | undefined;

async function main() {
  // Settings are checked, and Redis made sure of, before anything is started or written: a bad
  // value or a missing redis-server exits at once and leaves no embedded PostgreSQL behind.
  const { REDIS_URL } = loadEnv();
  await ensureRedis(REDIS_URL);
  // Traversable: when run as root, the embedded PostgreSQL runs as the postgres user inside it.
  mkdirSync(home, { recursive: true, mode: 0o755 });
  if (!process.env.DATABASE_URL) {
    say(`no DATABASE_URL: starting embedded PostgreSQL (data in ${path.join(home, "pg")})`);
    embedded = await startEmbeddedPostgres({ dataDir: path.join(home, "pg"), port: await freePort() });
    process.env.DATABASE_URL = embedded.url;
  }
  process.env.REDIS_URL ??= REDIS_URL;
  process.env.COOKIE_SECURE ??= "false";
  ensureDevKey();
  ensureDevDataKey();
  const env = loadEnv();

  const server = await startAuthServer(env);
  say(`auth server at ${server.url}`);
  const worker = startAdminWorker();
  closeOnSignals(async () => {
    const workerExited = worker.exitCode === null ? new Promise((r) => worker.once("exit", r)) : undefined;
    worker.kill("SIGTERM");
    await workerExited;
    await server.close();
    // The redis-server launched here goes last (the server used it until closed) and is gone
    // by the time start exits.
    await Promise.all(children.map(stopChild));
    await embedded?.stop();
  });
}

main().catch(async (error: Error) => {
  say(`could not start: ${error.message}`);
  for (const child of children) child.kill("SIGTERM");
  await embedded?.stop().catch(() => {});
  process.exit(1);
});
