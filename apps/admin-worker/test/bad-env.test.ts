import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { ROOT, WORKER_MAIN } from "./processes.js";

/** The worker as production starts it, with exactly this environment (plus PATH and HOME). */
function runWorker(env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--conditions=development", "--import", "tsx", WORKER_MAIN], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

// Never dialled: the configuration is refused before any connection.
const DATABASE_URL = "postgres://postgres@127.0.0.1:5432/unused";

describe("the admin worker with a bad configuration value: one line on stderr, exit code 1", () => {
  it.each([
    ["ACCESS_TOKEN_TTL", { DATABASE_URL, ACCESS_TOKEN_TTL: "ten" }],
    ["WORKER_CONCURRENCY", { DATABASE_URL, WORKER_CONCURRENCY: "abc" }],
    ["DATABASE_URL", {}],
  ])("names %s", async (variable, env) => {
    const result = await runWorker(env);
    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr).toMatch(new RegExp(`^warden-worker: invalid configuration: ${variable}: .+\\n$`));
    expect(result.stderr).not.toMatch(/\s+at /);
    expect(result.stdout).toBe("");
  });
});
