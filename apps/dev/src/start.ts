/**
 * `pnpm start`: the whole system on one machine. Uses DATABASE_URL when given, else an embedded
 * PostgreSQL under .warden/; REDIS_URL (default local), starting redis-server when nothing
 * answers and it is installed; a dev signing key and a dev data key kept under .warden/ when none
 * is configured; the admin console's build when there is one. The auth server runs in this
 * process (@warden/server), the admin worker as a child process (@warden/admin-worker), both
 * with the environment built here; this process's own environment is never written.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { chmodSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { generateDataKey, generateEs256PrivateKeyPem } from "@warden/auth";
import { freePort, startEmbeddedPostgres, type EmbeddedDatabase } from "@warden/db";
import { closeOnSignals, startAuthServer } from "@warden/server";
import { Redis } from "ioredis";
import { loadDevEnv, serverSettings, type DevSettings } from "./env.js";

const { settings, variables } = loadDevEnv();
const home = path.resolve(settings.WARDEN_HOME);
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
    say(
      `nothing answers at ${url} and redis-server is not installed: install Redis (e.g. apt-get install redis-server) or set REDIS_URL`,
    );
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

/** A dev signing key under .warden/ when none is configured. */
function devSigningKey(given: DevSettings): NodeJS.ProcessEnv {
  if (given.JWT_PRIVATE_KEY || given.JWT_PRIVATE_KEY_FILE || given.JWT_SECRET || given.JWT_SECRET_FILE) return {};
  const file = path.join(home, "dev-signing-key.pem");
  if (!existsSync(file)) {
    writeFileSync(file, generateEs256PrivateKeyPem(), { mode: 0o600 });
    say(`generated a development signing key in ${file}`);
  }
  chmodSync(file, 0o600);
  return { JWT_PRIVATE_KEY_FILE: file };
}

/** Kept across restarts, like the signing key: a grace retry after a restart still gets its successor. */
function devDataKey(given: DevSettings): NodeJS.ProcessEnv {
  if (given.WARDEN_DATA_KEY || given.WARDEN_DATA_KEY_FILE) return {};
  const file = path.join(home, "data-key");
  if (!existsSync(file)) {
    writeFileSync(file, `${generateDataKey()}\n`, { mode: 0o600 });
    say(`generated a development data key in ${file}`);
  }
  chmodSync(file, 0o600);
  return { WARDEN_DATA_KEY_FILE: file };
}

/** The admin console's build (`pnpm --filter @warden/console build`), found through its package, when it exists. */
function consoleBuild(given: DevSettings): NodeJS.ProcessEnv {
  if (given.CONSOLE_DIR) return {};
  const dir = path.dirname(fileURLToPath(import.meta.resolve("@warden/console/dist/index.html")));
  return existsSync(path.join(dir, "index.html")) ? { CONSOLE_DIR: dir } : {};
}

/** The admin worker's entry, resolved through its package. */
const WORKER_MAIN = fileURLToPath(import.meta.resolve("@warden/admin-worker/main"));

/** The admin worker as a child process with the auth server's environment (migrations already applied). */
function startAdminWorker(env: NodeJS.ProcessEnv): ChildProcess {
  const child = spawn(process.execPath, ["--import", "tsx", WORKER_MAIN], { env, stdio: ["ignore", "inherit", "inherit"] });
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
  // Settings were checked when env.ts loaded, and Redis is made sure of before anything is
  // started or written: a bad value or a missing redis-server exits at once and leaves no
  // embedded PostgreSQL behind.
  await ensureRedis(settings.REDIS_URL);
  // Traversable: when run as root, the embedded PostgreSQL runs as the postgres user inside it.
  mkdirSync(home, { recursive: true, mode: 0o755 });
  let databaseUrl = settings.DATABASE_URL;
  if (!databaseUrl) {
    say(`no DATABASE_URL: starting embedded PostgreSQL (data in ${path.join(home, "pg")})`);
    embedded = await startEmbeddedPostgres({ dataDir: path.join(home, "pg"), port: await freePort() });
    databaseUrl = embedded.url;
  }
  // What the auth server and the worker start with: the given environment plus what start provides.
  const env: NodeJS.ProcessEnv = {
    ...variables,
    DATABASE_URL: databaseUrl,
    REDIS_URL: settings.REDIS_URL,
    // Plain-HTTP localhost: a Secure cookie would never come back.
    COOKIE_SECURE: variables.COOKIE_SECURE ?? "false",
    ...devSigningKey(settings),
    ...devDataKey(settings),
    ...consoleBuild(settings),
  };

  const server = await startAuthServer(serverSettings(env));
  say(`auth server at ${server.url}`);
  const worker = startAdminWorker(env);
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
