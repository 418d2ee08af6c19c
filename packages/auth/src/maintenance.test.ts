import { randomUUID } from "node:crypto";
import { auditLog, oneTimeTokens, outboxEvents, refreshTokens, sessions, users, webhookDeliveries } from "@warden/db";
import { eq, inArray } from "drizzle-orm";
import { afterAll, beforeAll, expect, it } from "vitest";
import { LOGIN_SUCCEEDED, recordLoginRefusal } from "./audit.js";
import { pruneExpired } from "./maintenance.js";
import { issueOneTimeToken } from "./one-time-tokens.js";
import { revokeSession } from "./revoke.js";
import { createSession } from "./sessions.js";
import { createTestAuth, createTestClock, type TestAuth } from "./testing.js";
import { createWebhook } from "./webhooks.js";

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

  // A reset link issued now has expired by the time maintenance runs.
  await issueOneTimeToken(t.auth.db, t.auth.oneTimeKeys[0], randomUUID(), user!.id, "password_reset", clock());

  clock.advance(9 * DAY_MS); // past the 7-day idle limit plus one day of retention
  const live = await createSession(t.auth, t.auth.db, user!, {});
  await issueOneTimeToken(t.auth.db, t.auth.oneTimeKeys[0], randomUUID(), user!.id, "email_verification", clock());
  const retentionMs = 1 * DAY_MS;
  const result = await pruneExpired(t.auth.db, {
    now: clock(),
    refreshTokenTtlMs: t.auth.settings.refreshTokenTtlMs,
    accessTokenTtlMs: t.auth.settings.accessTokenTtlMs,
    retentionMs,
  });
  expect(result).toMatchObject({ sessions: 2, outboxEvents: 1, oneTimeTokens: 1 });
  const links = await t.auth.db
    .select({ purpose: oneTimeTokens.purpose })
    .from(oneTimeTokens)
    .where(eq(oneTimeTokens.userId, user!.id));
  expect(links).toEqual([{ purpose: "email_verification" }]);

  const left = await t.auth.db
    .select({ id: sessions.id })
    .from(sessions)
    .where(inArray(sessions.id, [idle.sessionId, revoked.sessionId, live.sessionId]));
  expect(left.map((r) => r.id)).toEqual([live.sessionId]);
  expect(await t.auth.db.select().from(refreshTokens).where(eq(refreshTokens.sessionId, idle.sessionId))).toHaveLength(0);
  expect(await t.auth.db.select().from(outboxEvents).where(eq(outboxEvents.id, eventId!))).toHaveLength(0);

  // Running it again finds nothing more.
  expect(
    await pruneExpired(t.auth.db, {
      now: clock(),
      refreshTokenTtlMs: t.auth.settings.refreshTokenTtlMs,
      accessTokenTtlMs: t.auth.settings.accessTokenTtlMs,
      retentionMs,
    }),
  ).toEqual({
    sessions: 0,
    refreshTokens: 0,
    outboxEvents: 0,
    oneTimeTokens: 0,
    auditRows: 0,
    webhookDeliveries: 0,
  });
});

it("RETENTION prunes audit rows that occurred before it; a revoked session outlives its last access token whatever the retention", async () => {
  const HOUR_MS = 3_600_000;
  const [user] = await t.auth.db
    .insert(users)
    .values({ email: `audit-prune-${randomUUID()}@example.com`, passwordHash: "x", createdAt: new Date(clock()) })
    .returning({ id: users.id, role: users.role, email: users.email });
  const session = await createSession(t.auth, t.auth.db, user!, {}, { audit: LOGIN_SUCCEEDED });
  const audited = async () =>
    (await t.auth.db.select({ type: auditLog.type }).from(auditLog).where(eq(auditLog.userId, user!.id)))
      .map((r) => r.type)
      .sort();
  clock.advance(2 * DAY_MS);
  await recordLoginRefusal(t.auth, { email: user!.email, refusal: "INVALID_CREDENTIALS", client: {} });
  await revokeSession(t.auth, { sessionId: session.sessionId, reason: "x", actor: { type: "system", id: null } });
  expect(await audited()).toEqual(["login.failed", "login.succeeded"]);

  const prune = (retentionMs: number) =>
    pruneExpired(t.auth.db, {
      now: clock(),
      refreshTokenTtlMs: t.auth.settings.refreshTokenTtlMs,
      accessTokenTtlMs: t.auth.settings.accessTokenTtlMs,
      retentionMs,
    });
  clock.advance(HOUR_MS);
  // A day of retention: the login of two days ago goes, the failure of an hour ago stays.
  expect(await prune(DAY_MS)).toMatchObject({ auditRows: 1 });
  expect(await audited()).toEqual(["login.failed"]);

  // A retention shorter than an access token's life keeps the revoked session until its tokens are dead
  // (the revocation feed is rebuilt from those rows); after that it goes.
  clock.advance(-HOUR_MS + 60_000);
  expect(await prune(1_000)).toMatchObject({ sessions: 0 });
  expect(await t.auth.db.select({ id: sessions.id }).from(sessions).where(eq(sessions.id, session.sessionId))).toHaveLength(1);
  clock.advance(t.auth.settings.accessTokenTtlMs);
  expect(await prune(1_000)).toMatchObject({ sessions: 1 });
  expect(await t.auth.db.select({ id: sessions.id }).from(sessions).where(eq(sessions.id, session.sessionId))).toHaveLength(0);
});

it("pruning deletes webhook deliveries that ended beyond the retention; pending and recent ones stay", async () => {
  const { id: webhookId } = await createWebhook(
    t.auth,
    { url: "https://hooks.example.com/prune", events: ["session.revoked"] },
    { actor: { type: "admin", id: null } },
  );
  const delivery = (status: "pending" | "succeeded" | "failed", ageMs: number) => ({
    id: randomUUID(),
    webhookId,
    eventId: randomUUID(),
    status,
    createdAt: new Date(clock() - ageMs),
    updatedAt: new Date(clock() - ageMs),
  });
  const rows = [
    delivery("succeeded", 3 * DAY_MS),
    delivery("failed", 3 * DAY_MS),
    delivery("pending", 3 * DAY_MS),
    delivery("succeeded", DAY_MS / 2),
  ];
  await t.auth.db.insert(webhookDeliveries).values(rows);
  const result = await pruneExpired(t.auth.db, {
    now: clock(),
    refreshTokenTtlMs: t.auth.settings.refreshTokenTtlMs,
    accessTokenTtlMs: t.auth.settings.accessTokenTtlMs,
    retentionMs: DAY_MS,
  });
  expect(result.webhookDeliveries).toBe(2);
  const left = await t.auth.db
    .select({ id: webhookDeliveries.id })
    .from(webhookDeliveries)
    .where(eq(webhookDeliveries.webhookId, webhookId));
  expect(left.map((r) => r.id).sort()).toEqual([rows[2]!.id, rows[3]!.id].sort());
});
