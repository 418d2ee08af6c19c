import { randomUUID } from "node:crypto";
import { outboxEvents, refreshTokens, sessions, users } from "@warden/db";
import { eq, inArray } from "drizzle-orm";
import { afterAll, beforeAll, expect, it } from "vitest";
import { pruneExpired } from "./maintenance.js";
import { revokeSession } from "./revoke.js";
import { createSession } from "./sessions.js";
import { createTestAuth, createTestClock, type TestAuth } from "./testing.js";

const DAY_MS = 86_400_000;
const clock = createTestClock();
let t: TestAuth;

beforeAll(async () => {
  t = await createTestAuth({ clock, settings: { refreshTokenTtlMs: 7 * DAY_MS, sessionMaxAgeMs: 30 * DAY_MS } });
});
afterAll(() => t.close());

it("pruning deletes sessions past their limits or revoked beyond the retention, and applied events beyond it; live ones stay", async () => {
  const [user] = await t.auth.db
    .insert(users)
    .values({ email: `prune-${randomUUID()}@example.com`, passwordHash: "x", createdAt: new Date(clock()) })
    .returning({ id: users.id, role: users.role });
  const idle = await createSession(t.auth, t.auth.db, user!, {});
  const revoked = await createSession(t.auth, t.auth.db, user!, {});
  const { eventId } = await revokeSession(t.auth, {
    sessionId: revoked.sessionId,
    reason: "x",
    actor: { type: "system", id: null },
  });
  await t.auth.db
    .update(outboxEvents)
    .set({ publishedAt: new Date(clock()), appliedAt: new Date(clock()) })
    .where(eq(outboxEvents.id, eventId!));

  clock.advance(9 * DAY_MS); // past the 7-day idle limit plus one day of retention
  const live = await createSession(t.auth, t.auth.db, user!, {});
  const retentionMs = 1 * DAY_MS;
  const result = await pruneExpired(t.auth.db, {
    now: clock(),
    refreshTokenTtlMs: t.auth.settings.refreshTokenTtlMs,
    retentionMs,
  });
  expect(result).toMatchObject({ sessions: 2, outboxEvents: 1 });

  const left = await t.auth.db
    .select({ id: sessions.id })
    .from(sessions)
    .where(inArray(sessions.id, [idle.sessionId, revoked.sessionId, live.sessionId]));
  expect(left.map((r) => r.id)).toEqual([live.sessionId]);
  expect(await t.auth.db.select().from(refreshTokens).where(eq(refreshTokens.sessionId, idle.sessionId))).toHaveLength(0);
  expect(await t.auth.db.select().from(outboxEvents).where(eq(outboxEvents.id, eventId!))).toHaveLength(0);

  // Running it again finds nothing more.
  expect(
    await pruneExpired(t.auth.db, { now: clock(), refreshTokenTtlMs: t.auth.settings.refreshTokenTtlMs, retentionMs }),
  ).toEqual({
    sessions: 0,
    refreshTokens: 0,
    outboxEvents: 0,
  });
});
