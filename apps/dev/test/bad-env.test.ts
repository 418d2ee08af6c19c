import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "@warden/db";
import { baseEnv, connectionRefused, postgresOn, spawnNode, TSX_CLI, type Child } from "@warden/testing";
import { afterAll, describe, expect, it } from "vitest";

/** `pnpm start` as the root package.json runs it: `tsx apps/dev/src/start.ts`. */
const START = fileURLToPath(new URL("../src/start.ts", import.meta.url));

const home = mkdtempSync(path.join(os.tmpdir(), "warden-bad-env-"));
const children: Child[] = [];

afterAll(async () => {
  await Promise.all(children.map((c) => c.stop("SIGKILL")));
  rmSync(home, { recursive: true, force: true });
});

/** Runs start; one that is still running after 30 s has not refused its configuration. */
async function run(args: string[], env: NodeJS.ProcessEnv) {
  const child = spawnNode(args, baseEnv(env));
  children.push(child);
  const exit = await Promise.race([child.exited, new Promise<undefined>((r) => setTimeout(r, 30_000))]);
  if (!exit) await child.stop("SIGTERM");
  return { ...exit, stderr: child.stderr(), stdout: child.stdout() };
}

/** One line on stderr naming the variable, exit code 1, no stack trace. */
function expectOneLine(result: Awaited<ReturnType<typeof run>>, variable: string) {
  expect(result.code, result.stderr).toBe(1);
  expect(result.stderr).toMatch(new RegExp(`^warden: invalid configuration: ${variable}: .+\\n$`));
  expect(result.stderr).not.toMatch(/\s+at /);
  expect(result.stdout).toBe("");
}

describe("a bad configuration value is one line on stderr and exit code 1", () => {
  it("`pnpm start` with PORT=abc, before starting anything (no embedded PostgreSQL, no key written)", async () => {
    // As the root package.json runs it: `tsx apps/dev/src/start.ts`, with no DATABASE_URL.
    const result = await run([TSX_CLI, "--conditions=development", START], { WARDEN_HOME: home, PORT: "abc" });
    expectOneLine(result, "PORT");
    expect(existsSync(path.join(home, "pg"))).toBe(false);
    expect(readdirSync(home)).toEqual([]);
  });

  // ACCESS_TOKEN_TTL is read by the auth server and the worker; WORKER_CONCURRENCY and RETENTION
  // by the worker only, which start runs last: each is refused before anything starts.
  it.each([
    ["ACCESS_TOKEN_TTL", "ten"],
    ["WORKER_CONCURRENCY", "0"],
    ["RETENTION", "a month"],
  ])("`pnpm start` with %s=%s, before starting anything: nothing left running, the port free", async (variable, value) => {
    const port = await freePort();
    const result = await run([TSX_CLI, "--conditions=development", START], {
      WARDEN_HOME: home,
      PORT: String(port),
      [variable]: value,
    });
    expectOneLine(result, variable);
    expect(readdirSync(home)).toEqual([]);
    expect(postgresOn(path.join(home, "pg"))).toEqual([]);
    expect(await connectionRefused(port)).toBe(true);
  });
});
