import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const BENCH_DIR = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const require = createRequire(import.meta.url);
/** tsx's loader, so children run TypeScript the way `pnpm bench` does. */
const TSX_LOADER = require.resolve("tsx");

export const HAS_TASKSET = spawnSync("taskset", ["-V"]).status === 0;
export const CORES = (await import("node:os")).availableParallelism();

/** Which CPU a role runs on (two cores: the server under test on 0, the load generator on 1). */
export const CPU = { server: 0, load: Math.min(1, CORES - 1) } as const;

function command(script: string, args: string[], cpu: number | undefined, nodeArgs: string[], built = false) {
  // Built JavaScript runs on plain node, as production runs it; bench scripts run through tsx.
  const loader = built ? [] : ["--conditions=development", "--import", TSX_LOADER];
  const node = [process.execPath, ...nodeArgs, ...loader, script, ...args];
  return cpu !== undefined && HAS_TASKSET ? ["taskset", "-c", String(cpu), ...node] : node;
}

export interface Child {
  pid: number;
  ready: Record<string, unknown>;
  child: ChildProcess;
  /** Resident set size in bytes, read from /proc. */
  rss(): number;
  /** CPU seconds (user + system) the process has used so far, read from /proc. */
  cpuSeconds(): number;
  stop(): Promise<void>;
}

export interface StartOptions {
  env?: Record<string, string>;
  cpu?: number | undefined;
  nodeArgs?: string[];
  args?: string[];
  timeoutMs?: number;
  /**
   * A built auth server (plain node, no READY line): ready once `${url}/trpc/health` answers ok,
   * and `ready.url` is that URL.
   */
  healthUrl?: string;
  /** Built JavaScript (`buildBenchServers`): run on plain node, as the auth server is. */
  built?: boolean;
}

/** Starts a long-running child that prints `READY <json>` on stdout once it serves (or see healthUrl). */
export function startChild(script: string, options: StartOptions = {}): Promise<Child> {
  const built = options.healthUrl !== undefined || options.built === true;
  const [bin, ...rest] = command(path.resolve(BENCH_DIR, script), options.args ?? [], options.cpu, options.nodeArgs ?? [], built);
  const child = spawn(bin!, rest, { env: { ...process.env, ...options.env }, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`${script} did not start in time: ${stderr}`)), options.timeoutMs ?? 120_000);
    const fail = (error: Error) => {
      clearTimeout(timer);
      child.kill("SIGKILL");
      reject(error);
    };
    child.once("exit", (code) => fail(new Error(`${script} exited (${code}) before ready: ${stderr}`)));
    const served = (ready: Record<string, unknown>) => {
      clearTimeout(timer);
      child.removeAllListeners("exit");
      child.stdout!.removeAllListeners("data");
      child.stdout!.resume();
      const pid = child.pid!;
      resolve({
        pid,
        child,
        ready,
        rss: () => readRss(pid),
        cpuSeconds: () => readCpuSeconds(pid),
        stop: () =>
          new Promise<void>((done) => {
            if (child.exitCode !== null) return done();
            const kill = setTimeout(() => child.kill("SIGKILL"), 10_000);
            child.once("exit", () => {
              clearTimeout(kill);
              done();
            });
            child.kill("SIGTERM");
          }),
      });
    };
    if (options.healthUrl !== undefined) {
      const url = options.healthUrl;
      child.stdout!.resume();
      waitForHealth(url, () => child.exitCode !== null).then(
        () => served({ url }),
        (error: Error) => fail(new Error(`${error.message}: ${stderr}`)),
      );
      return;
    }
    let buffer = "";
    child.stdout!.on("data", (d: Buffer) => {
      buffer += d.toString();
      const line = buffer.split("\n").find((l) => l.startsWith("READY "));
      if (line) served(JSON.parse(line.slice(6)) as Record<string, unknown>);
    });
  });
}

/** Polls an auth server's health until it reports ok (db and redis up). */
async function waitForHealth(url: string, exited: () => boolean): Promise<void> {
  while (!exited()) {
    try {
      const res = await fetch(`${url}/trpc/health`);
      const body = (await res.json()) as { result?: { data?: { ok?: boolean } } };
      if (body.result?.data?.ok) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the server exited before ${url}/trpc/health answered ok`);
}

/** Runs a child to completion and parses the JSON it prints last on stdout. */
export function runJob<T>(script: string, job: unknown, cpu: number | undefined, nodeArgs: string[] = []): Promise<T> {
  const [bin, ...rest] = command(path.resolve(BENCH_DIR, script), [], cpu, nodeArgs);
  const jobFile = path.join(mkdtempSync(path.join(os.tmpdir(), "warden-bench-job-")), "job.json");
  writeFileSync(jobFile, JSON.stringify(job));
  const child = spawn(bin!, rest, { env: { ...process.env, BENCH_JOB_FILE: jobFile }, stdio: ["ignore", "pipe", "pipe"] });
  child.once("exit", () => rmSync(path.dirname(jobFile), { recursive: true, force: true }));
  let out = "";
  let err = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
  return new Promise((resolve, reject) => {
    child.once("exit", (code) => {
      const last = out.trim().split("\n").pop() ?? "";
      if (code !== 0) return reject(new Error(`${script} failed (${code}): ${err}`));
      try {
        resolve(JSON.parse(last) as T);
      } catch {
        reject(new Error(`${script} printed no result: ${out.slice(-500)} ${err}`));
      }
    });
  });
}

function readRss(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = /VmRSS:\s+(\d+)/.exec(status)?.[1];
    return kb ? Number(kb) * 1024 : 0;
  } catch {
    return 0;
  }
}

const CLOCK_TICKS = Number(spawnSync("getconf", ["CLK_TCK"]).stdout?.toString().trim()) || 100;

function readCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return Number.NaN;
  }
}

/** CPU seconds (user + system) these processes have used so far; a process gone counts 0. */
export function cpuSecondsOf(pids: number[]): number {
  return pids.map(readCpuSeconds).reduce((sum, s) => sum + (Number.isNaN(s) ? 0 : s), 0);
}

/** Samples a process's RSS while `work` runs; returns the peak. */
export async function peakRss<T>(pid: number, work: () => Promise<T>): Promise<{ result: T; peak: number }> {
  let peak = readRss(pid);
  const timer = setInterval(() => (peak = Math.max(peak, readRss(pid))), 100);
  try {
    const result = await work();
    return { result, peak: Math.max(peak, readRss(pid)) };
  } finally {
    clearInterval(timer);
  }
}
