import { createWardenClient, memoryStore } from "@warden/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startWardenSystem, type WardenSystem } from "@warden/testing";
import { expectOneLineError, runWarden, tempConfigDir, loginAsAdmin } from "./cli.js";

let system: WardenSystem;
let adminDir: Awaited<ReturnType<typeof tempConfigDir>>;
const VICTIM = "victim@example.com";
const PASSWORD = "victim password 1";
/** Wrong passwords for one account from one IP allowed before RATE_LIMITED. */
const ACCOUNT_BUDGET = 2;

beforeAll(async () => {
  system = await startWardenSystem({ env: { RATE_LIMITS: "true", RATE_LIMIT_LOGIN_ACCOUNT: `${ACCOUNT_BUDGET}/1h` } });
  adminDir = await tempConfigDir();
  await createWardenClient({ url: system.url, store: memoryStore() }).signup({ email: VICTIM, password: PASSWORD });
  await loginAsAdmin(system, adminDir.dir);
});

afterAll(async () => {
  await system?.close();
  await adminDir?.remove();
});

describe("warden exit codes 1, 6 and 7", () => {
  it("exits 1 with one line naming the variable when the environment has a bad value", async () => {
    const result = await runWarden(["whoami"], { WARDEN_URL: "not-a-url", WARDEN_CONFIG_DIR: adminDir.dir });
    expectOneLineError(result, 1, /^warden: WARDEN_URL must be an http\(s\):\/\/ URL\n$/);
  });

  it("exits 6 with one line and the retry delay once login is rate limited", async () => {
    const dir = await tempConfigDir();
    try {
      const env = { WARDEN_CONFIG_DIR: dir.dir, WARDEN_URL: system.url, WARDEN_PASSWORD: PASSWORD };
      // Spend the account's budget (per email and IP) with wrong passwords, one at a time.
      const client = createWardenClient({ url: system.url, store: memoryStore() });
      for (let i = 0; i < ACCOUNT_BUDGET; i++) {
        await expect(client.login({ email: VICTIM, password: "wrong password" })).rejects.toMatchObject({
          reason: "INVALID_CREDENTIALS",
        });
      }
      // Then even the right password is refused until the window ends.
      const limited = await runWarden(["login", "--email", VICTIM], env);
      expectOneLineError(limited, 6, /^warden: rate limited; try again later \(retry in \d+ s\)\n$/);
    } finally {
      await dir.remove();
    }
  });

  it("exits 7 with one line when --wait gives up because no worker applies the revocation", async () => {
    await system.stopWorker();
    try {
      const result = await runWarden(["revoke-user", VICTIM, "--reason", "no worker", "--wait", "--timeout", "1"], {
        WARDEN_CONFIG_DIR: adminDir.dir,
        WARDEN_URL: system.url,
      });
      // Progress ("waiting for revocation ...") goes to stderr too, before the one error line.
      expect(result.code, result.stderr).toBe(7);
      expect(result.stderr).toMatch(
        /\nwarden: revocation [0-9a-f-]{36} not applied within 1 s \(is the admin worker running\?\)\n$/,
      );
      expect(result.stderr.match(/^warden: /gm)).toHaveLength(1);
      expect(result.stderr).not.toMatch(/\n\s+at /);
      // The revocation itself was made: it is pending, and the command said which event it is.
      const eventId = /event ([0-9a-f-]{36})/.exec(result.stdout)?.[1];
      expect(eventId, result.stdout).toBeDefined();
      expect(result.stderr).toContain(eventId!);
    } finally {
      await system.startWorker();
    }
  });
});
