import { randomUUID } from "node:crypto";
import { refreshTokens, sessions, users } from "@warden/db";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { revokeUserSessions } from "./revoke.js";
import { rotateBatch } from "./rotate.js";
import { createTestAuth, createTestClock, type TestAuth } from "./testing.js";
import { generateRefreshToken, hashToken } from "./tokens.js";

/**
 * Every statement that locks several sessions locks them in id order: a batch of refreshes and a
 * user-wide revocation over the same sessions then queue behind one another instead of each
 * holding a row the other waits for (a deadlock, which PostgreSQL breaks by failing one of them).
 * Shown by holding the lower id elsewhere: the waiting statement must hold no other row yet.
 */
const clock = createTestClock();
let t: TestAuth;

beforeAll(async () => {
  t = await createTestAuth({ clock });
});
afterAll(() => t.close());

const LOW = "00000000-0000-4000-8000-000000000000";
const HIGH = "ffffffff-ffff-4fff-bfff-ffffffffffff";

/** A user with two sessions, stored high id first (so a scan in storage order meets it first). */
async function userWithTwoSessions() {
  const [user] = await t.database.db
    .insert(users)
    .values({ email: `order-${randomUUID()}@example.com`, passwordHash: "x" })
    .returning({ id: users.id });
  const now = new Date(clock());
  const later = new Date(clock() + 86_400_000);
  const tokens: Record<string, string> = {};
  for (const id of [HIGH, LOW]) {
    tokens[id] = generateRefreshToken();
    await t.database.db.insert(sessions).values({ id, userId: user!.id, createdAt: now, lastSeenAt: now, expiresAt: later });
    await t.database.db
      .insert(refreshTokens)
      .values({ id: randomUUID(), sessionId: id, tokenHash: hashToken(tokens[id]), createdAt: now, expiresAt: later });
  }
  return { userId: user!.id, tokens };
}

async function waitUntilWaiting(pid: number | undefined = undefined): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const [row] = await t.database.sql<{ n: number }[]>`
      select count(*)::int as n from pg_stat_activity
      where datname = current_database() and wait_event_type = 'Lock' and (${pid ?? null}::int is null or pid <> ${pid ?? 0})`;
    if (row!.n > 0) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error("nothing started waiting for a lock");
}

/** Holds the LOW session's row lock while `run` starts, checks HIGH is free meanwhile, then lets go. */
async function whileLowIsHeld<T>(start: () => Promise<T>): Promise<T> {
  const holder = await t.database.sql.reserve();
  const prober = await t.database.sql.reserve();
  try {
    await holder`begin`;
    await holder`select id from sessions where id = ${LOW} for update`;
    const running = start();
    await waitUntilWaiting();
    // The statement waits for LOW; had it locked HIGH first, this would fail at once.
    await prober`begin`;
    const free = await prober`select id from sessions where id = ${HIGH} for update nowait`.then(
      () => true,
      () => false,
    );
    await prober`rollback`;
    await holder`commit`;
    expect(free).toBe(true);
    return await running;
  } finally {
    holder.release();
    prober.release();
  }
}

const request = (token: string) => ({
  tokenHash: hashToken(token),
  now: clock(),
  salt: "salt",
  successorId: randomUUID(),
  successorHash: hashToken(generateRefreshToken()),
  idleLimit: clock() + 86_400_000,
});

describe("lock order", () => {
  it("a batch of refreshes locks its sessions in id order, whatever order the refreshes came in", async () => {
    await t.database.sql`delete from sessions where id in (${LOW}, ${HIGH})`;
    const { tokens } = await userWithTwoSessions();
    const rows = await whileLowIsHeld(() => rotateBatch(t.auth.db, [request(tokens[HIGH]!), request(tokens[LOW]!)]));
    expect(rows.map((r) => r?.session_id)).toEqual([HIGH, LOW]);
  });

  it("a user-wide revocation locks the user's sessions in id order, whatever order they are stored in", async () => {
    await t.database.sql`delete from sessions where id in (${LOW}, ${HIGH})`;
    const { userId } = await userWithTwoSessions();
    const result = await whileLowIsHeld(() =>
      revokeUserSessions(t.auth, { userId, reason: "order", actor: { type: "system", id: null } }),
    );
    expect(result.revokedSessions).toBe(2);
  });
});
