import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { generateDataKey, generateEs256PrivateKeyPem } from "@warden/auth";
import { createTestDatabase, type TestDatabase } from "@warden/db/testing";
import { Redis } from "ioredis";
import { deleteKeys, LogCapture, PASSWORD, testPrefix } from "@warden/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serverEnvSchema, startAuthServer, type RunningServer } from "@warden/server";

const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const prefix = testPrefix();
const signingKey = generateEs256PrivateKeyPem();
const dataKey = generateDataKey();
const BOOTSTRAP = { email: "root@example.com", password: "bootstrap password 1" };
let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database?.drop();
  const redis = new Redis(REDIS_URL);
  await deleteKeys(redis, prefix);
  redis.disconnect();
});

/** The production wiring, as a restart with WARDEN_ADMIN_* still set runs it. */
async function startWithAdminEnv(admin: { email: string; password: string }) {
  const logs = new LogCapture();
  const server = await startAuthServer(
    serverEnvSchema.parse({
      PORT: "0",
      DATABASE_URL: database.url,
      REDIS_URL,
      QUEUE_PREFIX: prefix,
      JWT_PRIVATE_KEY: signingKey,
      WARDEN_DATA_KEY: dataKey,
      RATE_LIMITS: "false",
      LOG_LEVEL: "info",
      WARDEN_ADMIN_EMAIL: admin.email,
      WARDEN_ADMIN_PASSWORD: admin.password,
    }),
    { logDestination: logs },
  );
  return { server, logs };
}

async function call(server: RunningServer, procedure: string, body?: unknown, token?: string) {
  const res = await fetch(`${server.url}/trpc/${procedure}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body ?? {}),
  });
  const json = (await res.json()) as any;
  return { status: res.status, reason: json.error?.data?.reason as string | undefined, data: json.result?.data };
}

async function accountRow(email: string) {
  const [row] = await database.sql<{ role: string; passwordHash: string; lockedAt: Date | null }[]>`
    select role, password_hash as "passwordHash", locked_at as "lockedAt" from users where email = ${email}`;
  return row;
}

/** The user.signed_up events of the account with this email: who made it, and why. */
async function signedUpEvents(email: string) {
  return database.sql<{ actor: unknown; reason: string }[]>`
    select payload->'actor' as actor, payload->>'reason' as reason from outbox_events
    where type = 'user.signed_up' and payload->>'userId' = (select id::text from users where email = ${email})`;
}

/** The start-time warnings about WARDEN_ADMIN_*, one parsed log line each. */
function adminWarnings(logs: LogCapture) {
  return logs.lines
    .flatMap((chunk) => chunk.split("\n").filter(Boolean))
    .map((line) => JSON.parse(line) as { level: number; msg: string })
    .filter((line) => line.level === 40 && line.msg.includes("WARDEN_ADMIN_EMAIL"));
}

describe("WARDEN_ADMIN_* at start", () => {
  it("a restart with the env still set leaves a locked bootstrap admin locked, with its password as it was", async () => {
    const first = await startWithAdminEnv(BOOTSTRAP);
    let lockedRow: Awaited<ReturnType<typeof accountRow>>;
    try {
      expect(await accountRow(BOOTSTRAP.email)).toMatchObject({ role: "admin", lockedAt: null });
      expect(adminWarnings(first.logs)).toEqual([]);
      // Created like a signup, for the audit: by the system, saying how.
      expect(await signedUpEvents(BOOTSTRAP.email)).toEqual([
        { actor: { type: "system", id: null }, reason: "admin account created at start (WARDEN_ADMIN_EMAIL)" },
      ]);

      // A second admin (any admin will do) locks the bootstrap account, say because its password leaked.
      const second = { email: "second-admin@example.com", password: PASSWORD };
      expect((await call(first.server, "auth.signup", second)).status).toBe(200);
      await database.sql`update users set role = 'admin' where email = ${second.email}`;
      const secondToken = (await call(first.server, "auth.login", second)).data.accessToken as string;
      const root = (await call(first.server, "auth.login", BOOTSTRAP)).data.user as { id: string };
      const lock = await call(
        first.server,
        "admin.revokeUser",
        { userId: root.id, reason: "bootstrap password leaked", lock: true },
        secondToken,
      );
      expect(lock.status).toBe(200);
      expect((await call(first.server, "auth.login", BOOTSTRAP)).reason).toBe("ACCOUNT_LOCKED");
      lockedRow = await accountRow(BOOTSTRAP.email);
      expect(lockedRow?.lockedAt).not.toBeNull();
    } finally {
      await first.server.close();
    }

    const restarted = await startWithAdminEnv(BOOTSTRAP);
    try {
      expect(await call(restarted.server, "auth.login", BOOTSTRAP)).toMatchObject({ status: 403, reason: "ACCOUNT_LOCKED" });
      // Not unlocked, and the password was not reset (argon2 salts every hash: a reset would change it).
      expect(await accountRow(BOOTSTRAP.email)).toEqual(lockedRow);
      expect(adminWarnings(restarted.logs)).toHaveLength(1);
      expect(await signedUpEvents(BOOTSTRAP.email)).toHaveLength(1);
    } finally {
      await restarted.server.close();
    }
  });

  it("an existing plain account with that email is not promoted, and its password is not reset", async () => {
    const squatter = { email: "ops@example.com", password: "squatter password" };
    const setup = await startWithAdminEnv(BOOTSTRAP);
    try {
      expect((await call(setup.server, "auth.signup", squatter)).status).toBe(200);
    } finally {
      await setup.server.close();
    }
    const before = await accountRow(squatter.email);

    const started = await startWithAdminEnv({ email: " Ops@Example.com", password: "operator password" });
    try {
      expect(await accountRow(squatter.email)).toEqual(before);
      expect(before?.role).toBe("user");
      expect(await call(started.server, "auth.login", { email: squatter.email, password: "operator password" })).toMatchObject({
        status: 401,
        reason: "INVALID_CREDENTIALS",
      });
      const login = await call(started.server, "auth.login", squatter);
      expect(login.data.user).toMatchObject({ email: squatter.email, role: "user" });
      const warnings = adminWarnings(started.logs);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]!.msg).toContain("--promote-existing");
    } finally {
      await started.server.close();
    }
  });

  it("a WARDEN_ADMIN_PASSWORD shorter than the password policy stops the server with one clear line (exit 1)", async () => {
    expect(serverEnvSchema.safeParse({ WARDEN_ADMIN_EMAIL: BOOTSTRAP.email, WARDEN_ADMIN_PASSWORD: "short" }).success).toBe(
      false,
    );
    expect(
      serverEnvSchema.safeParse({ WARDEN_ADMIN_EMAIL: BOOTSTRAP.email, WARDEN_ADMIN_PASSWORD: "x".repeat(1025) }).success,
    ).toBe(false);

    const main = fileURLToPath(new URL("../src/main.ts", import.meta.url));
    const root = fileURLToPath(new URL("../../..", import.meta.url));
    const child = spawn(process.execPath, ["--conditions=development", "--import", "tsx", main], {
      cwd: root,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        DATABASE_URL: database.url,
        WARDEN_ADMIN_EMAIL: BOOTSTRAP.email,
        WARDEN_ADMIN_PASSWORD: "short",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const [code] = await once(child, "exit");
    expect(code).toBe(1);
    expect(stderr).toBe("warden: invalid configuration: WARDEN_ADMIN_PASSWORD: must be at least 8 characters\n");
  });
});
