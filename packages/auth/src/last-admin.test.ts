import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deleteUser } from "./admin-users.js";
import { revokeUserSessions } from "./revoke.js";
import { setUserRole } from "./roles.js";
import { createTestAuth, type TestAuth } from "./testing.js";
import { createAdmin } from "./users.js";

/**
 * The last-admin rule's advisory lock is named, not numbered: `hashtext('warden:last-admin')`, in
 * Warden's namespace like its other advisory locks, so no other application on the database
 * holding some small integer lock can block (or be blocked by) admin changes.
 */
const SYSTEM = { type: "system", id: null } as const;
let t: TestAuth;

beforeAll(async () => {
  t = await createTestAuth();
  // Another unlocked admin: none of the changes below is refused as LAST_ADMIN.
  await createAdmin(t.auth, "keeper@example.com", "admin password 1");
});
afterAll(() => t.close());

const newAdmin = async () => (await createAdmin(t.auth, `${randomUUID()}@example.com`, "admin password 1"))!.id;

/** Runs `change` while another transaction holds the advisory lock `warden:last-admin`: it must wait for it. */
async function whileTheLockIsHeld<T>(change: () => Promise<T>): Promise<T> {
  const holder = await t.database.sql.reserve();
  try {
    await holder`begin`;
    await holder`select pg_advisory_xact_lock(hashtext('warden:last-admin'))`;
    const running = change();
    const deadline = Date.now() + 15_000;
    for (;;) {
      const [row] = await t.database.sql<{ n: number }[]>`
        select count(*)::int as n from pg_stat_activity
        where datname = current_database() and wait_event_type = 'Lock' and wait_event = 'advisory'`;
      if (row!.n > 0) break;
      if (Date.now() > deadline) throw new Error("the change never waited for the warden:last-admin lock");
      await new Promise((r) => setTimeout(r, 10));
    }
    await holder`commit`;
    return await running;
  } finally {
    holder.release();
  }
}

describe("the last-admin lock", () => {
  it("a demotion, a lock and a deletion of an unlocked admin wait for the advisory lock named warden:last-admin", async () => {
    const demoted = await newAdmin();
    await whileTheLockIsHeld(() => setUserRole(t.auth, { userId: demoted, role: "user", reason: "rotation", actor: SYSTEM }));
    const locked = await newAdmin();
    await whileTheLockIsHeld(() => revokeUserSessions(t.auth, { userId: locked, reason: "fraud", actor: SYSTEM, lock: true }));
    const deleted = await newAdmin();
    await whileTheLockIsHeld(() => deleteUser(t.auth, { userId: deleted, reason: "erasure", actor: SYSTEM }));
    const [rows] = await t.database.sql<{ n: number }[]>`
      select count(*)::int as n from users where id in (${demoted}, ${locked}, ${deleted}) and (role = 'user' or locked_at is not null)`;
    expect(rows!.n).toBe(3);
  });
});
