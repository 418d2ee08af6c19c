import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { generateDataKey, generateEs256PrivateKeyPem } from "@warden/auth";
import { loadServerDataKeys, serverEnvSchema } from "@warden/server";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../../..", import.meta.url));
const MAIN = fileURLToPath(new URL("../src/main.ts", import.meta.url));

/** The auth server as production runs it; resolves with its exit code and everything it printed. */
function runServer(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const base: NodeJS.ProcessEnv = { ...process.env };
  for (const name of ["WARDEN_DATA_KEY", "WARDEN_DATA_KEY_FILE", "WARDEN_DATA_KEY_PREVIOUS"]) delete base[name];
  const child = spawn(process.execPath, ["--conditions=development", "--import", "tsx", MAIN], {
    cwd: ROOT,
    env: {
      ...base,
      NODE_ENV: "production",
      PORT: "0",
      // Never reached: the configuration is refused before any connection.
      DATABASE_URL: "postgres://postgres@127.0.0.1:1/unreachable",
      JWT_PRIVATE_KEY: generateEs256PrivateKeyPem(),
      LOG_LEVEL: "silent",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  return new Promise((resolve) => child.once("exit", (code) => resolve({ code, output })));
}

const base64Of = (bytes: number) => randomBytes(bytes).toString("base64");

describe("WARDEN_DATA_KEY", () => {
  it("in production the auth server refuses to start without it: one clear line, exit 1", async () => {
    const { code, output } = await runServer({});
    expect(code).toBe(1);
    expect(output.trim().split("\n")).toHaveLength(1);
    expect(output).toMatch(/^warden: could not start: WARDEN_DATA_KEY or WARDEN_DATA_KEY_FILE is required/);
  }, 60_000);

  it("a key shorter than 32 bytes is refused in one line that does not quote it, exit 1", async () => {
    const short = base64Of(31);
    const { code, output } = await runServer({ WARDEN_DATA_KEY: short });
    expect(code).toBe(1);
    expect(output.trim().split("\n")).toHaveLength(1);
    expect(output).toMatch(/^warden: invalid configuration: WARDEN_DATA_KEY: too short/);
    expect(output).not.toContain(short);
  }, 60_000);

  it("is base64 or base64url of at least 32 bytes; anything else is refused, inline, in a file or as a previous key", async () => {
    expect(serverEnvSchema.safeParse({ WARDEN_DATA_KEY: base64Of(32) }).success).toBe(true);
    expect(serverEnvSchema.safeParse({ WARDEN_DATA_KEY: randomBytes(48).toString("base64url") }).success).toBe(true);
    for (const bad of [base64Of(16), "", "not base64 at all!", "secret", base64Of(31)]) {
      expect(serverEnvSchema.safeParse({ WARDEN_DATA_KEY: bad }).success, bad).toBe(false);
    }
    expect(serverEnvSchema.safeParse({ WARDEN_DATA_KEY_PREVIOUS: `${base64Of(32)},${base64Of(40)}` }).success).toBe(true);
    expect(serverEnvSchema.safeParse({ WARDEN_DATA_KEY_PREVIOUS: `${base64Of(32)},${base64Of(8)}` }).success).toBe(false);

    const dir = await mkdtemp(path.join(os.tmpdir(), "warden-data-key-"));
    try {
      const file = path.join(dir, "data-key");
      await writeFile(file, `${base64Of(16)}\n`);
      expect(() => loadServerDataKeys(serverEnvSchema.parse({ WARDEN_DATA_KEY_FILE: file }))).toThrow(
        /^WARDEN_DATA_KEY_FILE too short/,
      );
      const key = generateDataKey();
      await writeFile(file, `${key}\n`);
      const old = generateDataKey();
      const keys = loadServerDataKeys(serverEnvSchema.parse({ WARDEN_DATA_KEY_FILE: file, WARDEN_DATA_KEY_PREVIOUS: old }));
      expect(keys.current.equals(Buffer.from(key, "base64"))).toBe(true);
      expect(keys.previous.map((k) => k.toString("base64"))).toEqual([old]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
