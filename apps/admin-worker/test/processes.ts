import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../../..", import.meta.url));
/**
 * The auth server's TypeScript entry (its package's `development` export; require.resolve would
 * give the built one, and vitest has no import.meta.resolve).
 */
export const AUTH_SERVER_MAIN = fileURLToPath(new URL("../../auth-server/src/main.ts", import.meta.url));
export const WORKER_MAIN = fileURLToPath(new URL("../src/main.ts", import.meta.url));

export interface Child {
  process: ChildProcess;
  output(): string;
  /** SIGTERM (or the given signal) and wait for the exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** Runs a TypeScript entry point as its own Node process (tsx, workspace packages from their sources). */
export function spawnNode(entry: string, env: NodeJS.ProcessEnv): Child {
  const child = spawn(process.execPath, ["--conditions=development", "--import", "tsx", entry], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (d) => (output += d));
  child.stderr!.on("data", (d) => (output += d));
  return {
    process: child,
    output: () => output,
    async stop(signal = "SIGTERM") {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill(signal);
      await exited;
    },
  };
}

/** Waits until the auth server at `url` reports db and redis up. */
export async function waitForHealthy(url: string, child: Child, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(`${url}/trpc/health`);
      const body = (await res.json()) as { result?: { data?: { ok?: boolean } } };
      if (body.result?.data?.ok) return;
    } catch {
      // Not listening yet.
    }
    if (child.process.exitCode !== null) throw new Error(`server exited:\n${child.output()}`);
    if (Date.now() > deadline) throw new Error(`server not healthy in time:\n${child.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
