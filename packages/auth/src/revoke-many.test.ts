import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { revokeUserSessions } from "./revoke.js";
import { rotateRefreshToken } from "./rotate.js";
import { createTestAuth, type TestAuth } from "./testing.js";
import { signup } from "./users.js";

let t: TestAuth;
beforeAll(async () => {
  t = await createTestAuth();
});
afterAll(() => t.close());

describe("revoking a user with very many sessions", () => {
  it("revokes more sessions than PostgreSQL has bind parameters, refresh tokens included", async () => {
    const res = await signup(t.auth, { email: `many-${randomUUID()}@example.com`, password: "correct horse battery" }, {});
    const extra = 66_000;
    await t.database.sql`
      with s as (
        insert into sessions (id, user_id, created_at, last_seen_at, expires_at)
        select gen_random_uuid(), ${res.user.id}, now(), now(), now() + interval '1 day' from generate_series(1, ${extra})
        returning id
      )
      insert into refresh_tokens (id, session_id, token_hash, created_at, expires_at)
      select gen_random_uuid(), id, md5(id::text), now(), now() + interval '1 day' from s`;

    const { revokedSessions } = await revokeUserSessions(t.auth, {
      userId: res.user.id,
      reason: "test",
      actor: { type: "system", id: null },
    });

    expect(revokedSessions).toBe(extra + 1);
    const [live] = await t.database.sql<{ n: number }[]>`
      select count(*)::int as n from refresh_tokens rt join sessions s on s.id = rt.session_id
      where s.user_id = ${res.user.id} and rt.revoked_at is null`;
    expect(live?.n).toBe(0);
    await expect(rotateRefreshToken(t.auth, res.refreshToken)).rejects.toMatchObject({ reason: "REFRESH_TOKEN_REVOKED" });
  }, 120_000);
});
