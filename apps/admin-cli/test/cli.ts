import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";
import { expect } from "vitest";

const MAIN = fileURLToPath(new URL("../src/main.ts", import.meta.url));
/** Where the CLI runs by default: this package (`--import tsx` on a terminal resolves tsx from here). */
const PACKAGE_DIR = fileURLToPath(new URL("..", import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `warden <args>` as its own process, the way an admin or a script does. */
export function runWarden(
  args: string[],
  env: Record<string, string | undefined> = {},
  options: { input?: string; cwd?: string } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawnWarden(args, env, options);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(options.input ?? "");
  });
}

/** tsx's loader, by path: a CLI run from another directory (`cwd`) still finds it. */
const TSX = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;

/** Starts `warden <args>` with a clean environment (plus `env`); stdio piped, so not a TTY. */
export function spawnWarden(
  args: string[],
  env: Record<string, string | undefined> = {},
  options: { cwd?: string } = {},
): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, ["--conditions=development", "--import", TSX, MAIN, ...args], {
    cwd: options.cwd ?? PACKAGE_DIR,
    env: cleanEnv(env),
    stdio: ["pipe", "pipe", "pipe"],
  });
}

/**
 * A missing WARDEN_HOME unless a test gives one: the `.warden/dev-server.json` a developer's
 * `pnpm start` keeps in this checkout must not change what the CLI under test talks to.
 */
const NO_WARDEN_HOME = path.join(os.tmpdir(), "warden-cli-tests-no-warden-home");

function cleanEnv(env: Record<string, string | undefined>): Record<string, string> {
  const all: Record<string, string | undefined> = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    NO_COLOR: "1",
    WARDEN_HOME: NO_WARDEN_HOME,
    ...env,
  };
  return Object.fromEntries(Object.entries(all).filter((e): e is [string, string] => e[1] !== undefined));
}

/**
 * Runs `warden <args>` on a pseudo-terminal (util-linux `script`), to see what a person sees. Each
 * of `answers` is typed, followed by Enter, once its prompt has appeared since the previous answer.
 */
export function runWardenInTerminal(
  args: string[],
  env: Record<string, string | undefined> = {},
  answers: { prompt: string; answer: string }[] = [],
): Promise<CliResult> {
  const quote = (a: string) => `'${a.replaceAll("'", "'\\''")}'`;
  const command = [process.execPath, "--conditions=development", "--import", "tsx", MAIN, ...args].map(quote).join(" ");
  return new Promise((resolve, reject) => {
    // A pty made by `script` has no size until told; give it a usual one.
    const child = spawn("script", ["-qec", `stty cols 120 rows 40; ${command}`, "/dev/null"], {
      cwd: PACKAGE_DIR,
      env: cleanEnv(env),
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let seen = 0;
    const pending = [...answers];
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
      const next = pending[0];
      const at = next ? stdout.indexOf(next.prompt, seen) : -1;
      if (!next || at < 0) return;
      pending.shift();
      seen = at + next.prompt.length;
      child.stdin.write(`${next.answer}\r`);
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr: "" }));
    // With answers to type, the terminal stays open until the command is done.
    if (answers.length === 0) child.stdin.end();
  });
}

/** A config directory of the test's own, so no real ~/.config/warden is touched. */
export async function tempConfigDir(): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "warden-cli-"));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** `warden login` as the system's bootstrap admin, saved under `configDir` with the system's URL. */
export async function loginAsAdmin(
  system: { url: string; admin: { email: string; password: string } },
  configDir: string,
): Promise<CliResult> {
  const login = await runWarden(["login", "--email", system.admin.email, "--url", system.url], {
    WARDEN_CONFIG_DIR: configDir,
    WARDEN_PASSWORD: system.admin.password,
  });
  expect(login.code, login.stderr).toBe(0);
  return login;
}

/** Expected failures are one line on stderr, never a stack trace. */
export function expectOneLineError(result: CliResult, code: number, text: RegExp) {
  expect(result.code, result.stderr).toBe(code);
  expect(result.stderr).toMatch(text);
  expect(result.stderr.trim().split("\n")).toHaveLength(1);
  expect(result.stderr).not.toMatch(/\n\s+at /);
}

/** The `next page: warden ...` line a page of `users` or `audit` prints on stderr, as the arguments to run it. */
export function nextPageArgs(result: CliResult): string[] | undefined {
  const line = /^next page: warden (.+)$/m.exec(result.stderr)?.[1];
  return line?.split(" ").map((w) => w.replace(/^'(.*)'$/, "$1"));
}
