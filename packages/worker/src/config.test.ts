import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import pino from "pino";
import { workerEnvSchema, workerOptionsFromEnv } from "./config.js";

const DATABASE_URL = "postgres://postgres@127.0.0.1:5432/warden";

describe("worker configuration", () => {
  it("takes the auth servers' WARDEN_DATA_KEY as optional, validated as they validate it", () => {
    expect(workerEnvSchema.safeParse({ DATABASE_URL }).success).toBe(true);
    expect(workerEnvSchema.safeParse({ DATABASE_URL, WARDEN_DATA_KEY: randomBytes(32).toString("base64") }).success).toBe(true);
    expect(workerEnvSchema.safeParse({ DATABASE_URL, WARDEN_DATA_KEY: randomBytes(16).toString("base64") }).success).toBe(false);
    expect(workerEnvSchema.safeParse({ DATABASE_URL, WARDEN_DATA_KEY_PREVIOUS: "short" }).success).toBe(false);
  });

  it("serves metrics only when METRICS_PORT is set, on METRICS_HOST (127.0.0.1 by default), with an optional token", () => {
    const logger = pino({ level: "silent" });
    const options = (env: Record<string, string>) =>
      workerOptionsFromEnv(workerEnvSchema.parse({ DATABASE_URL, ...env }), logger);
    expect(options({}).metrics).toBeUndefined();
    expect(options({ METRICS_PORT: "9464" }).metrics).toEqual({ port: 9464, host: "127.0.0.1", token: undefined });
    const token = "a-long-enough-token";
    expect(options({ METRICS_PORT: "0", METRICS_HOST: "0.0.0.0", METRICS_TOKEN: token }).metrics).toEqual({
      port: 0,
      host: "0.0.0.0",
      token,
    });
    for (const bad of [{ METRICS_PORT: "70000" }, { METRICS_PORT: "x" }, { METRICS_TOKEN: "short" }]) {
      expect(workerEnvSchema.safeParse({ DATABASE_URL, ...bad }).success).toBe(false);
    }
  });

  it("WEBHOOKS_ALLOW_LOCAL (off by default) lets deliveries reach loopback targets; anything but a flag is refused", () => {
    const logger = pino({ level: "silent" });
    const options = (env: Record<string, string>) =>
      workerOptionsFromEnv(workerEnvSchema.parse({ DATABASE_URL, ...env }), logger);
    expect(options({}).webhooks).toEqual({ allowLocal: false });
    expect(options({ WEBHOOKS_ALLOW_LOCAL: "true" }).webhooks).toEqual({ allowLocal: true });
    expect(options({ WEBHOOKS_ALLOW_LOCAL: "0" }).webhooks).toEqual({ allowLocal: false });
    expect(workerEnvSchema.safeParse({ DATABASE_URL, WEBHOOKS_ALLOW_LOCAL: "sometimes" }).success).toBe(false);
  });
});
