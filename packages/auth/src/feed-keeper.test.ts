import { RevocationSet } from "@warden/revocations";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadRevocationsFromDatabase } from "./feed-keeper.js";
import { createTestAuth, createTestClock, type TestAuth } from "./testing.js";

const clock = createTestClock();
let t: TestAuth;

beforeAll(async () => {
  t = await createTestAuth({ clock });
});
afterAll(() => t.close());

describe("revocations loaded from PostgreSQL", () => {
  it("every session revoked within one access-token lifetime (more than one cursor chunk of them), none older", async () => {
    const ttl = t.auth.settings.accessTokenTtlMs;
    const now = new Date(clock()).toISOString();
    const long = new Date(clock() - 2 * ttl).toISOString();
    const [user] = await t.database.sql<{ id: string }[]>`
      insert into users (email, password_hash) values ('many@example.com', 'x') returning id`;
    const recent = await t.database.sql<{ id: string }[]>`
      insert into sessions (id, user_id, created_at, last_seen_at, expires_at, revoked_at)
      select gen_random_uuid(), ${user!.id}, ${now}, ${now}, ${now}::timestamptz + interval '1 day', ${now}
      from generate_series(1, 25000) returning id`;
    const old = await t.database.sql<{ id: string }[]>`
      insert into sessions (id, user_id, created_at, last_seen_at, expires_at, revoked_at)
      select gen_random_uuid(), ${user!.id}, ${long}, ${long}, ${now}::timestamptz + interval '1 day', ${long}
      from generate_series(1, 100) returning id`;
    const set = new RevocationSet({ clock, sweep: false });
    const loaded = await loadRevocationsFromDatabase(t.auth.db, set, { now: clock(), accessTokenTtlMs: ttl });
    expect(loaded.sessions).toBe(25_000);
    expect(recent.every((r) => set.has(r.id))).toBe(true);
    expect(old.some((r) => set.has(r.id))).toBe(false);
    clock.advance(ttl + 60_000);
    expect(recent.some((r) => set.has(r.id))).toBe(false);
  });
});
