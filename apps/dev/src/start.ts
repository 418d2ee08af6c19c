/**
 * `pnpm start`: the whole system on one machine. Uses DATABASE_URL when given, else an embedded
 * PostgreSQL under .warden/; REDIS_URL (default local), starting redis-server when nothing
 * answers and it is installed; a dev signing key and a dev data key kept under .warden/ when none
 * is configured; the admin console at /console/ (its build, or a page saying how to build it).
 * The auth server runs in this process (@warden/server), the admin worker as a child process
 * (@warden/admin-worker), both with the environment built here; this process's own environment
 * is never written.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { generateDataKey, generateEs256PrivateKeyPem } from "@warden/auth";
import type { DevServerRecord } from "@warden/contracts";
import { freePort, startEmbeddedPostgres } from "@warden/db";
import { startAuthServer } from "@warden/server";
import { startMailbox, type ReceivedMail } from "@warden/testing";
import { Redis } from "ioredis";
import { appliedEnv, consoleBuilt, DEV_RATE_LIMIT_FACTOR, devFiles, loadDevEnv, serverSettings } from "./env.js";

// Every setting (start's, the auth server's, the worker's) is checked here, before anything is
// started or written: a bad value exits at once with one line.
const dev = loadDevEnv();
const { settings, home } = dev;
const files = devFiles(home);

function say(line: string) {
  process.stderr.write(`warden: ${line}\n`);
}

/** A failure that start has already explained: no "could not start" line is added. */
class Explained extends Error {}

/**
 * What start has started, in order, each with how to stop it. A failure or a signal at any point
 * stops them all, the last started first, and waits for each: nothing is left running (an
 * embedded PostgreSQL left behind would hold .warden/pg against the next start).
 */
const started: Promise<(() => Promise<void>) | undefined>[] = [];
let stopping: Promise<void> | undefined;

function track<T>(starting: Promise<T>, stop: (running: T) => Promise<void>): Promise<T> {
  started.push(starting.then((running) => () => stop(running)).catch(() => undefined));
  return starting;
}

function stopAll(): Promise<void> {
  return (stopping ??= (async () => {
    for (const starting of started.reverse()) {
      const stop = await starting;
      await stop?.().catch((error: unknown) => say(`could not stop cleanly: ${describe(error)}`));
    }
  })());
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
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
    throw new Explained();
  }
  const port = new URL(url).port || "6379";
  say(`starting redis-server on port ${port}`);
  const child = spawn("redis-server", ["--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
    stdio: "ignore",
  });
  await track(Promise.resolve(child), stopChild);
  for (let i = 0; i < 50; i++) {
    if (await redisAnswers(url)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  say(`redis-server did not answer at ${url}`);
  throw new Explained();
}

/** The dev key start provides (see appliedEnv), generated on first use and kept across restarts. */
function keepDevKey(file: string | undefined, devFile: string, what: string, generate: () => string): void {
  if (file !== devFile) return;
  if (!existsSync(file)) {
    writeFileSync(file, generate(), { mode: 0o600 });
    say(`generated a development ${what} in ${file}`);
  }
  chmodSync(file, 0o600);
}

/** The admin worker's entry, resolved through its package. */
const WORKER_MAIN = fileURLToPath(import.meta.resolve("@warden/admin-worker/main"));

/** The admin worker as a child process with the auth server's environment (migrations already applied). */
function startAdminWorker(env: NodeJS.ProcessEnv): ChildProcess {
  const child = spawn(process.execPath, ["--conditions=development", "--import", "tsx", WORKER_MAIN], {
    env,
    stdio: ["ignore", "inherit", "inherit"],
  });
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

/** Between steps: a signal received meanwhile ends the start (the shutdown stops what is running). */
function interrupted(): boolean {
  return stopping !== undefined;
}

async function main() {
  await ensureRedis(settings.REDIS_URL);
  if (interrupted()) return;
  // Traversable: when run as root, the embedded PostgreSQL runs as the postgres user inside it.
  mkdirSync(home, { recursive: true, mode: 0o755 });
  let databaseUrl = settings.DATABASE_URL;
  if (!databaseUrl) {
    say(`no DATABASE_URL: starting embedded PostgreSQL (data in ${files.database})`);
    const embedded = await track(startEmbeddedPostgres({ dataDir: files.database, port: await freePort() }), (db) => db.stop());
    databaseUrl = embedded.url;
    if (interrupted()) return;
  }
  const env = appliedEnv(dev, databaseUrl);
  keepDevKey(env.JWT_PRIVATE_KEY_FILE, files.signingKey, "signing key", generateEs256PrivateKeyPem);
  keepDevKey(env.WARDEN_DATA_KEY_FILE, files.dataKey, "data key", () => `${generateDataKey()}\n`);

  const server = await track(startAuthServer(serverSettings(env)), (running) => running.close());
  if (interrupted()) return;
  if (settings.RATE_LIMITS) {
    say(
      `development rate limits (${DEV_RATE_LIMIT_FACTOR}x production's unless RATE_LIMIT_* is set; RATE_LIMITS=false turns them off)`,
    );
  }
  const mail = await mailSettings(env, server.url);
  if (interrupted()) return;
  await track(Promise.resolve(startAdminWorker({ ...env, ...mail })), stopChild);
  const record: DevServerRecord = { pid: process.pid, url: server.url, databaseUrl, startedAt: Date.now() };
  await track(Promise.resolve(recordDevServer(record)), forgetDevServer);
  printReady(record, env, settings.DATABASE_URL === undefined);
}

/**
 * Where the worker sends emails: SMTP_URL when given, else a development mailbox on loopback that
 * prints each message's subject and links here, so reset and verification work out of the box.
 * The one place a link with its token is shown: development only, never a production log.
 */
async function mailSettings(env: NodeJS.ProcessEnv, serverUrl: string): Promise<NodeJS.ProcessEnv> {
  const publicUrl = env.PUBLIC_URL ?? serverUrl;
  if (env.SMTP_URL) return { PUBLIC_URL: publicUrl };
  const mailbox = await track(startMailbox({ onMessage: printMail }), (box) => box.close());
  say(`no SMTP_URL: emails go to a development mailbox (${mailbox.url}) and are printed here`);
  return { SMTP_URL: mailbox.url, PUBLIC_URL: publicUrl };
}

function printMail(mail: ReceivedMail): void {
  const links = mail.links.map((link) => `\n    ${link}`).join("");
  say(`email to ${mail.to.join(", ")}: ${mail.subject}${links}`);
}

/** The record the warden CLI reads (see DEV_SERVER_FILE), readable by this user only: it holds the database URL. */
function recordDevServer(record: DevServerRecord): DevServerRecord {
  writeFileSync(files.devServer, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });
  chmodSync(files.devServer, 0o600);
  return record;
}

/** Removed at stop: the embedded database's port changes at the next start. */
async function forgetDevServer(record: DevServerRecord): Promise<void> {
  try {
    if (JSON.parse(readFileSync(files.devServer, "utf8")).pid === record.pid) rmSync(files.devServer);
  } catch {
    // Gone already.
  }
}

/** A password a user gave in DATABASE_URL stays off the terminal; the embedded database's is a fixed dev one. */
function shownDatabaseUrl(url: string, embedded: boolean): string {
  if (embedded) return url;
  const parsed = new URL(url);
  if (parsed.password) parsed.password = "***";
  return parsed.toString();
}

/** Where everything is, once everything runs. */
function printReady(record: DevServerRecord, env: NodeJS.ProcessEnv, embedded: boolean): void {
  const relative = path.relative(process.cwd(), files.devServer);
  const recordPath = relative.startsWith("..") ? files.devServer : relative;
  const rows = [
    ["API", `${record.url}/trpc`],
    [
      "console",
      consoleBuilt(env.CONSOLE_DIR)
        ? `${record.url}/console/`
        : `${record.url}/console/ (not built yet: pnpm --filter @warden/console build, then restart)`,
    ],
    ["JWKS", `${record.url}/.well-known/jwks.json`],
    ["health", `${record.url}/healthz`],
    ["database", `DATABASE_URL=${shownDatabaseUrl(record.databaseUrl, embedded)}`],
  ];
  const lines = rows.map(([name, value]) => `  ${name!.padEnd(9)} ${value}`);
  process.stderr.write(
    `warden: ready\n${lines.join("\n")}\n  recorded in ${recordPath}: \`pnpm warden login\` and \`pnpm warden admin create\` find this server and its database there\n`,
  );
}

// `on`, not `once`: under tsx a signal with no listener left exits at once (code 143), which
// would cut the shutdown short.
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    if (stopping) return;
    say(`${signal}, shutting down`);
    stopAll().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}

main().catch(async (error: unknown) => {
  if (!(error instanceof Explained)) say(`could not start: ${describe(error)}`);
  await stopAll();
  process.exit(1);
});
