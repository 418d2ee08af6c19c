import { fileURLToPath } from "node:url";
import { baseEnv, spawnNode, type Child } from "@warden/testing";
import { afterAll, describe, expect, it } from "vitest";

const MAIN = fileURLToPath(new URL("../src/main.ts", import.meta.url));

const children: Child[] = [];

afterAll(async () => {
  await Promise.all(children.map((c) => c.stop("SIGKILL")));
});

async function run(args: string[], env: NodeJS.ProcessEnv) {
  const child = spawnNode(args, baseEnv(env));
  children.push(child);
  const exit = await child.exited;
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
  it.each([
    ["ACCESS_TOKEN_TTL", "ten"],
    ["PORT", "abc"],
  ])("the auth server (main.ts) with %s=%s", async (variable, value) => {
    const result = await run(["--conditions=development", "--import", "tsx", MAIN], { [variable]: value });
    expectOneLine(result, variable);
  });
});
