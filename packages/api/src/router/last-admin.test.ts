import { randomUUID } from "node:crypto";
import { createAdmin } from "@warden/auth";
import { createTestAuth, type TestAuth } from "@warden/auth/testing";
import { outboxEvents, users } from "@warden/db";
import { and, count, eq, isNull } from "drizzle-orm";
import { afterEach, describe, expect, it } from "vitest";
import { callerFor, reasonOf, signUp } from "../testing.js";

/**
 * The last unlocked admin cannot be demoted, locked or deleted. Each test has a database of its
 * own: what it counts is every admin there is.
 */
const password = "correct horse battery";
const opened: TestAuth[] = [];

afterEach(async () => {
  await Promise.all(opened.splice(0).map((t) => t.close()));
});

async function freshAuth(): Promise<TestAuth> {
  const t = await createTestAuth();
  opened.push(t);
  return t;
}

async function signedInAdmin(t: TestAuth, tag: string) {
  const email = `${tag}-${randomUUID()}@example.com`;
  const user = await createAdmin(t.auth, email, password);
  const { accessToken } = await callerFor(t.auth).auth.login({ email, password });
  return { id: user!.id, admin: callerFor(t.auth, accessToken).admin };
}

async function unlockedAdmins(t: TestAuth): Promise<string[]> {
  const rows = await t.database.db
    .select({ id: users.id })
    .from(users)
    .where(and(eq(users.role, "admin"), isNull(users.lockedAt)));
  return rows.map((r) => r.id);
}

async function outboxSize(t: TestAuth): Promise<number> {
  const [row] = await t.database.db.select({ n: count() }).from(outboxEvents);
  return row!.n;
}

/** The call's outcome: "ok", or the reason it failed with. */
async function outcome(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return "ok";
  } catch (error) {
    return reasonOf(Promise.reject(error));
  }
}

/**
 * A pause point every party waits at until all have arrived. Here: inside each admin change, its
 * target's row locked, before it counts the other admins. If they were serialised before that
 * point only one would arrive, and the test says so instead of passing by luck.
 */
function barrier(parties: number) {
  let arrived = 0;
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return async () => {
    if (++arrived === parties) open();
    let timer: NodeJS.Timeout | undefined;
    const stuck = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`only ${arrived} of ${parties} changes reached the count together`)), 10_000);
    });
    try {
      await Promise.race([opened, stuck]);
    } finally {
      clearTimeout(timer);
    }
  };
}

describe("the last unlocked admin", () => {
  it("cannot be demoted, locked or deleted (LAST_ADMIN) and nothing is written; a locked admin does not count", async () => {
    const t = await freshAuth();
    const solo = await signedInAdmin(t, "solo");
    const other = await signedInAdmin(t, "other");
    await solo.admin.revokeUser({ userId: other.id, reason: "on leave", lock: true });
    expect(await unlockedAdmins(t)).toEqual([solo.id]);
    const events = await outboxSize(t);

    expect(await outcome(solo.admin.setRole({ userId: solo.id, role: "user", reason: "step down" }))).toBe("LAST_ADMIN");
    expect(await outcome(solo.admin.revokeUser({ userId: solo.id, reason: "lock myself", lock: true }))).toBe("LAST_ADMIN");
    expect(await outcome(solo.admin.deleteUser({ userId: solo.id, reason: "delete myself" }))).toBe("LAST_ADMIN");
    expect(await unlockedAdmins(t)).toEqual([solo.id]);
    const [row] = await t.database.db
      .select({ email: users.email, deletedAt: users.deletedAt })
      .from(users)
      .where(eq(users.id, solo.id));
    expect(row!.deletedAt).toBeNull();
    expect(row!.email).toMatch(/^solo-/);
    expect(await outboxSize(t)).toBe(events);
    // Still an admin: the refusals ended nothing.
    await solo.admin.audit({});

    // Revoking without a lock, and changes to plain users, never count admins.
    await solo.admin.revokeUser({ userId: other.id, reason: "sessions only" });
    const plain = await signUp(t.auth, { email: `plain-${randomUUID()}@example.com`, password });
    await solo.admin.revokeUser({ userId: plain.user.id, reason: "fraud", lock: true });

    // With a second unlocked admin the same demotion goes through.
    await solo.admin.unlockUser({ userId: other.id, reason: "back" });
    expect(await outcome(solo.admin.setRole({ userId: solo.id, role: "user", reason: "step down" }))).toBe("ok");
    expect(await unlockedAdmins(t)).toEqual([other.id]);
  });

  it.each([
    ["two demotions", "setRole", "setRole"],
    ["a lock and a deletion", "lock", "deleteUser"],
  ] as const)(
    "%s of two admins by each other at once, both inside before either counts: one goes through, the other is LAST_ADMIN, one unlocked admin is left",
    async (_, first, second) => {
      const t = await freshAuth();
      const a = await signedInAdmin(t, "a");
      const b = await signedInAdmin(t, "b");
      const change = (by: typeof a, kind: "setRole" | "lock" | "deleteUser", target: string) =>
        kind === "setRole"
          ? by.admin.setRole({ userId: target, role: "user", reason: "race" })
          : kind === "lock"
            ? by.admin.revokeUser({ userId: target, reason: "race", lock: true })
            : by.admin.deleteUser({ userId: target, reason: "race" });
      t.auth.hooks = { beforeAdminCount: barrier(2) };

      const outcomes = await Promise.all([outcome(change(a, first, b.id)), outcome(change(b, second, a.id))]);
      t.auth.hooks = undefined;
      console.log(`${first} (a on b) and ${second} (b on a) at once: ${outcomes.join(", ")}`);
      expect([...outcomes].sort()).toEqual(["LAST_ADMIN", "ok"]);
      const left = await unlockedAdmins(t);
      expect(left).toHaveLength(1);
      // The one left is the one whose change went through.
      expect(left[0]).toBe(outcomes[0] === "ok" ? a.id : b.id);
    },
  );
});
