import { generateDataKey, generateEs256PrivateKeyPem, hashPassword } from "@warden/auth";
import { createTestDatabase, type TestDatabase } from "@warden/db/testing";
import { users } from "@warden/db";
import { Redis } from "ioredis";
import { deleteKeys, PASSWORD, testPrefix } from "@warden/testing";
import { afterAll, beforeAll, expect, it } from "vitest";
import { serverEnvSchema, startAuthServer } from "@warden/server";

let db: TestDatabase;
const prefix = testPrefix();

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  const redis = new Redis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379", { maxRetriesPerRequest: 1 });
  await deleteKeys(redis, prefix);
  redis.disconnect();
  await db.drop();
});

it("the auth server re-canonicalises stored emails at start: a colliding account is locked before the first request", async () => {
  const passwordHash = await hashPassword(PASSWORD);
  // As an older Warden stored them: "ẖ" and "H̱" (lower-cased after NFC: h + U+0331) were two accounts.
  const [older, newer] = await db.db
    .insert(users)
    .values([
      { email: "\u1E96ana@corp.test", passwordHash, createdAt: new Date("2025-01-01T00:00:00Z") },
      { email: "h\u0331ana@corp.test", passwordHash, createdAt: new Date("2025-02-01T00:00:00Z") },
    ])
    .returning({ id: users.id });
  const server = await startAuthServer(
    serverEnvSchema.parse({
      PORT: "0",
      DATABASE_URL: db.url,
      REDIS_URL: process.env.REDIS_URL ?? "redis://127.0.0.1:6379",
      QUEUE_PREFIX: prefix,
      JWT_PRIVATE_KEY: generateEs256PrivateKeyPem(),
      WARDEN_DATA_KEY: generateDataKey(),
      LOG_LEVEL: "silent",
      RATE_LIMITS: "false",
    }),
  );
  try {
    const [lost] = await db.sql`select locked_at from users where id = ${newer!.id}`;
    expect(lost!.locked_at).not.toBeNull();
    const res = await fetch(`${server.url}/trpc/auth.login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: "H\u0331ana@corp.test", password: PASSWORD }),
    });
    expect(res.status).toBe(200);
    expect((await res.json()).result.data.user.id).toBe(older!.id);
  } finally {
    await server.close();
  }
});
