import { randomUUID } from "node:crypto";
import { createDb } from "@warden/db";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deleteUser, unlockUser } from "./admin-users.js";
import { revokeUserSessions } from "./revoke.js";
import { setUserRole } from "./roles.js";
import { createAuth } from "./context.js";
import { createTestAuth, createTestClock, TEST_AUDIENCE, TEST_ISSUER, type TestAuth } from "./testing.js";
import { login, signup } from "./users.js";

/**
 * Changes to a user take the user's row lock first and their time after it: a change that waited
 * for another (the row held FOR UPDATE) is stamped when it went through, not when it was asked for,
 * so its event and not-before come after what it waited for.
 */
const clock = createTestClock();
const SYSTEM = { type: "system", id: null } as const;
const WAITED_MS = 60_000;
let t: TestAuth;

beforeAll(async () => {
  t = await createTestAuth({ clock });
});
afterAll(() => t.close());

async function newUser() {
  return (await signup(t.auth, { email: `${randomUUID()}@example.com`, password: "correct horse battery" }, {})).user.id;
}

/** Runs `change` while another transaction holds the user's row; the clock moves on before it lets go. */
async function afterWaitingForTheRow<T>(userId: string, change: () => Promise<T>): Promise<T> {
  const holder = await t.database.sql.reserve();
  try {
    await holder`begin`;
    await holder`select id from users where id = ${userId} for update`;
    const running = change();
    const deadline = Date.now() + 15_000;
    for (;;) {
      const [row] = await t.database.sql<{ n: number }[]>`
        select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`;
      if (row!.n > 0) break;
      if (Date.now() > deadline) throw new Error("the change never waited for the row");
      await new Promise((r) => setTimeout(r, 10));
    }
    clock.advance(WAITED_MS);
    await holder`commit`;
    return await running;
  } finally {
    holder.release();
  }
}

async function eventAt(eventId: string | null): Promise<number> {
  const [row] = await t.database.sql<
    { at: number }[]
  >`select (payload->>'at')::float8 as at from outbox_events where id = ${eventId}`;
  return row!.at;
}

describe("changes to a user", () => {
  it("unlock, lock, deletion and a role change are stamped when they got the user's row, not when they were asked for", async () => {
    const locked = await newUser();
    await revokeUserSessions(t.auth, { userId: locked, reason: "lock", actor: SYSTEM, lock: true });
    const changes = {
      unlock: { userId: locked, run: () => unlockUser(t.auth, { userId: locked, reason: "cleared", actor: SYSTEM }) },
      lock: await newUser().then((userId) => ({
        userId,
        run: () => revokeUserSessions(t.auth, { userId, reason: "fraud", actor: SYSTEM, lock: true }),
      })),
      deletion: await newUser().then((userId) => ({
        userId,
        run: () => deleteUser(t.auth, { userId, reason: "erasure", actor: SYSTEM }),
      })),
      "role change": await newUser().then((userId) => ({
        userId,
        run: () => setUserRole(t.auth, { userId, role: "admin", reason: "on call", actor: SYSTEM }),
      })),
    };
    for (const [name, change] of Object.entries(changes)) {
      const asked = clock();
      const { eventId } = await afterWaitingForTheRow(change.userId, change.run);
      expect(await eventAt(eventId), name).toBe(asked + WAITED_MS);
    }
  });

  it("a deletion erases the account's addresses from the audit in statements that return no rows, however long its history", async () => {
    const email = `${randomUUID()}@example.com`;
    const userId = (await signup(t.auth, { email, password: "correct horse battery" }, { ip: "192.0.2.7" })).user.id;
    for (let i = 0; i < 5; i++) await login(t.auth, { email, password: "correct horse battery" }, { ip: "192.0.2.7" });
    const statements: string[] = [];
    const watched = createDb(t.database.url, { max: 1, debug: (_c, query) => statements.push(query.replace(/\s+/g, " ")) });
    try {
      const auth = createAuth({ db: watched.db, keys: t.auth.keys, settings: { issuer: TEST_ISSUER, audience: TEST_AUDIENCE } });
      await deleteUser(auth, { userId, reason: "erasure", actor: SYSTEM });
    } finally {
      await watched.close();
    }
    const erasures = statements.filter((q) => /^update "audit_log"/i.test(q) || /^update "outbox_events"/i.test(q));
    expect(erasures.length).toBeGreaterThan(0);
    for (const q of erasures) expect(q).not.toMatch(/returning/i);
    const [left] = await t.database.sql<{ n: number }[]>`
      select count(*)::int as n from audit_log where user_id = ${userId} and ip is not null`;
    expect(left!.n).toBe(0);
  });
});
