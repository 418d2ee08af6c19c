import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { workerEnvSchema } from "./config.js";

const DATABASE_URL = "postgres://postgres@127.0.0.1:5432/warden";

describe("worker configuration", () => {
  it("takes the auth servers' WARDEN_DATA_KEY as optional, validated as they validate it", () => {
    expect(workerEnvSchema.safeParse({ DATABASE_URL }).success).toBe(true);
    expect(workerEnvSchema.safeParse({ DATABASE_URL, WARDEN_DATA_KEY: randomBytes(32).toString("base64") }).success).toBe(true);
    expect(workerEnvSchema.safeParse({ DATABASE_URL, WARDEN_DATA_KEY: randomBytes(16).toString("base64") }).success).toBe(false);
    expect(workerEnvSchema.safeParse({ DATABASE_URL, WARDEN_DATA_KEY_PREVIOUS: "short" }).success).toBe(false);
  });
});
