import { randomUUID } from "node:crypto";
import { refreshTokens, sessions, users } from "@warden/db";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthError } from "./errors.js";
import { classifyRefreshFailure } from "./refresh-failure.js";
import { rotateRefreshToken } from "./rotate.js";
import { createTestAuth, createTestClock, type TestAuth } from "./testing.js";
import { hashToken } from "./tokens.js";
import { signup } from "./users.js";

const clock = createTestClock();
let t: TestAuth;

beforeAll(async () => {
  t = await createTestAuth({ clock });
});
afterAll(() => t.close());

const newUser = () => signup(t.auth, { email: `failure-${randomUUID()}@example.com`, password: "correct horse battery" }, {});
const classify = (token: string) =>
  classifyRefreshFailure(t.auth, token, clock()).then(
    (verdict) => verdict.kind,
    (err: unknown) => (err instanceof AuthError ? err.reason : String(err)),
  );

describe("why a refresh was not rotated", () => {
  it("a live, never-rotated token is left as it is: not-rotated, no successor, the session untouched", async () => {
    const res = await newUser();
    const sessionBefore = await t.database.db.select().from(sessions).where(eq(sessions.id, res.sessionId));
    expect(await classify(res.refreshToken)).toBe("not-rotated");
    const tokens = await t.database.db.select().from(refreshTokens).where(eq(refreshTokens.sessionId, res.sessionId));
    expect(tokens.map((r) => [r.tokenHash, r.rotatedAt, r.successorSalt])).toEqual([[hashToken(res.refreshToken), null, null]]);
    expect(await t.database.db.select().from(sessions).where(eq(sessions.id, res.sessionId))).toEqual(sessionBefore);
  });

  it("tells unknown, revoked, locked and expired apart", async () => {
    expect(await classify("not-a-token")).toBe("REFRESH_TOKEN_INVALID");

    const revoked = await newUser();
    await t.database.db
      .update(sessions)
      .set({ revokedAt: new Date(clock()) })
      .where(eq(sessions.id, revoked.sessionId));
    expect(await classify(revoked.refreshToken)).toBe("REFRESH_TOKEN_REVOKED");

    const locked = await newUser();
    await t.database.db
      .update(users)
      .set({ lockedAt: new Date(clock()) })
      .where(eq(users.id, locked.user.id));
    expect(await classify(locked.refreshToken)).toBe("REFRESH_TOKEN_REVOKED");

    const idle = await newUser();
    clock.advance(t.auth.settings.refreshTokenTtlMs);
    expect(await classify(idle.refreshToken)).toBe("REFRESH_TOKEN_EXPIRED");
  });

  it("the newest rotation within the grace window is a replay of the same successor; after it, theft revokes the session", async () => {
    const res = await newUser();
    const next = await rotateRefreshToken(t.auth, res.refreshToken);
    const replay = await classifyRefreshFailure(t.auth, res.refreshToken, clock());
    expect(replay).toMatchObject({
      kind: "replayed",
      successor: next.refreshToken,
      sessionId: res.sessionId,
      userId: res.user.id,
    });

    clock.advance(t.auth.settings.refreshReuseGraceMs + 1);
    expect(await classify(res.refreshToken)).toBe("REFRESH_TOKEN_REUSED");
    // Committed although the call failed.
    const [session] = await t.database.db.select().from(sessions).where(eq(sessions.id, res.sessionId));
    expect(session?.revokedAt?.getTime()).toBe(clock());
    expect(await classify(next.refreshToken)).toBe("REFRESH_TOKEN_REVOKED");
  });
});
