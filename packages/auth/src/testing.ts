import { createTestDatabase, type TestDatabase } from "@warden/db/testing";
import { createAuth, type Auth, type AuthSettings } from "./context.js";
import type { DataKeys } from "./data-keys.js";
import { createKeyRing, es256KeyFromPem, generateEs256PrivateKeyPem, type KeyRing } from "./keys.js";

/** A clock tests move by hand: expiry and grace windows without sleeping. */
export interface TestClock {
  (): number;
  set(ms: number): void;
  advance(ms: number): void;
}

export function createTestClock(start = Date.UTC(2026, 0, 1)): TestClock {
  let now = start;
  const clock = (() => now) as TestClock;
  clock.set = (ms) => {
    now = ms;
  };
  clock.advance = (ms) => {
    now += ms;
  };
  return clock;
}

export const TEST_ISSUER = "https://warden.test";
export const TEST_AUDIENCE = "warden-test";

export function createTestKeyRing(): KeyRing {
  return createKeyRing(es256KeyFromPem(generateEs256PrivateKeyPem()));
}

export interface TestAuth {
  auth: Auth;
  database: TestDatabase;
  close(): Promise<void>;
}

/** A fresh database and an Auth over it. Close it in afterAll. */
export async function createTestAuth(
  options: { clock?: () => number; settings?: Partial<AuthSettings>; keys?: KeyRing; dataKeys?: DataKeys } = {},
): Promise<TestAuth> {
  const database = await createTestDatabase();
  const auth = createAuth({
    db: database.db,
    keys: options.keys ?? createTestKeyRing(),
    settings: { issuer: TEST_ISSUER, audience: TEST_AUDIENCE, ...options.settings },
    ...(options.clock ? { clock: options.clock } : {}),
    // Absent: a random data key, which is all one process sharing nothing needs.
    ...(options.dataKeys ? { dataKeys: options.dataKeys } : {}),
  });
  return {
    auth,
    database,
    async close() {
      auth.revocations.close();
      await database.drop();
    },
  };
}
