import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { DEV_SERVER_FILE, type DevServerRecord } from "@warden/contracts";
import { startWardenSystem, type WardenSystem } from "@warden/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runWarden, tempConfigDir, type CliResult } from "./cli.js";

/**
 * `pnpm start` records its server and database in `.warden/dev-server.json` (see apps/dev); the
 * CLI finds them there when nothing else says where they are. Here a test system stands in for
 * `pnpm start`, and the record is written as start writes it.
 */
let system: WardenSystem;
const checkout = mkdtempSync(path.join(os.tmpdir(), "warden-cli-checkout-"));
const wardenHome = path.join(checkout, ".warden");
/** A directory inside the checkout, as `pnpm --filter` runs a package's scripts. */
const nested = path.join(checkout, "apps", "admin-cli");
const configDirs: Awaited<ReturnType<typeof tempConfigDir>>[] = [];

beforeAll(async () => {
  system = await startWardenSystem();
  mkdirSync(wardenHome);
  mkdirSync(nested, { recursive: true });
});

afterAll(async () => {
  await system?.close();
  await Promise.all(configDirs.map((d) => d.remove()));
  rmSync(checkout, { recursive: true, force: true });
});

function record(pid: number, home = wardenHome): void {
  const value: DevServerRecord = { pid, url: system.url, databaseUrl: system.database.url, startedAt: Date.now() };
  writeFileSync(path.join(home, DEV_SERVER_FILE), JSON.stringify(value));
}

async function configDir(): Promise<string> {
  const dir = await tempConfigDir();
  configDirs.push(dir);
  return dir.dir;
}

/** `warden` run inside the checkout, with no WARDEN_HOME, WARDEN_URL, DATABASE_URL or saved server. */
async function wardenInCheckout(args: string[], env: Record<string, string>): Promise<CliResult> {
  return runWarden(args, { WARDEN_HOME: undefined, ...env }, { cwd: nested });
}

/** The pid of a process that has exited: what a killed `pnpm start` leaves in its record. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
  await once(child, "exit");
  return child.pid!;
}

function expectOneLineError(result: CliResult, code: number, text: string) {
  expect(result.code, result.stderr).toBe(code);
  expect(result.stderr).toBe(`warden: ${text}\n`);
}

describe("the CLI finds the development server `pnpm start` recorded", () => {
  it("admin create uses the recorded database, and login the recorded server, from a directory inside the checkout", async () => {
    record(process.pid);
    const dir = await configDir();
    const created = await wardenInCheckout(["admin", "create", "dev-admin@example.com"], {
      WARDEN_PASSWORD: "dev admin password",
      WARDEN_CONFIG_DIR: dir,
    });
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toMatch(/^admin dev-admin@example.com ready/);
    expect(created.stderr).toContain(
      `using the database of the development server recorded in ${path.join(wardenHome, DEV_SERVER_FILE)}`,
    );

    const login = await wardenInCheckout(["login", "--email", "dev-admin@example.com"], {
      WARDEN_PASSWORD: "dev admin password",
      WARDEN_CONFIG_DIR: dir,
    });
    expect(login.code, login.stderr).toBe(0);
    expect(login.stdout).toContain(`signed in to ${system.url} as dev-admin@example.com (admin)`);
  });

  it("WARDEN_HOME names where the record is, as it does for `pnpm start`", async () => {
    const home = mkdtempSync(path.join(checkout, "home-"));
    record(process.pid, home);
    const dir = await configDir();
    const created = await runWarden(["admin", "create", "home-admin@example.com"], {
      WARDEN_HOME: home,
      WARDEN_PASSWORD: "home admin password",
      WARDEN_CONFIG_DIR: dir,
    });
    expect(created.code, created.stderr).toBe(0);
    const login = await runWarden(["login", "--email", "home-admin@example.com"], {
      WARDEN_HOME: home,
      WARDEN_PASSWORD: "home admin password",
      WARDEN_CONFIG_DIR: dir,
    });
    expect(login.stdout).toContain(`signed in to ${system.url}`);
  });

  it("--url still wins over the record", async () => {
    record(process.pid);
    const result = await wardenInCheckout(["login", "--email", "nobody@example.com", "--url", "http://127.0.0.1:9"], {
      WARDEN_PASSWORD: "whatever password",
      WARDEN_CONFIG_DIR: await configDir(),
    });
    expect(result.code).toBe(5);
    expect(result.stderr).toContain("cannot reach Warden at http://127.0.0.1:9");
  });

  it("a record whose `pnpm start` is gone: admin create says so and how to go on", async () => {
    const pid = await deadPid();
    record(pid);
    const result = await wardenInCheckout(["admin", "create", "late@example.com"], { WARDEN_PASSWORD: "late admin password" });
    expectOneLineError(
      result,
      1,
      `admin create needs the database: the development server recorded in ${path.join(wardenHome, DEV_SERVER_FILE)} is not running (pid ${pid}); start it with \`pnpm start\`, or set DATABASE_URL=postgres://user:password@host:port/database (or --database-url)`,
    );
  });

  it("no record and no DATABASE_URL: admin create says exactly how to name the database", async () => {
    const result = await runWarden(["admin", "create", "none@example.com"], {
      WARDEN_HOME: mkdtempSync(path.join(checkout, "empty-")),
      WARDEN_PASSWORD: "none admin password",
    });
    expectOneLineError(
      result,
      1,
      "admin create needs the database: set DATABASE_URL=postgres://user:password@host:port/database (or --database-url), or run `pnpm start` in this checkout first (it records its database in .warden/dev-server.json)",
    );
  });
});
