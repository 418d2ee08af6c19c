import { randomUUID } from "node:crypto";
import { createAdmin } from "@warden/auth";
import { createTestAuth, createTestClock, type TestAuth } from "@warden/auth/testing";
import type { PublicUser } from "@warden/contracts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { callerFor, reasonOf, signUp } from "../testing.js";

/** admin.users.list over a database of its own: every user it holds is known here. */
const clock = createTestClock();
const password = "correct horse battery";
let t: TestAuth;
let root: PublicUser;
let admin: ReturnType<typeof callerFor>["admin"];
const ids: Record<string, string> = {};

beforeAll(async () => {
  t = await createTestAuth({ clock });
  root = (await createAdmin(t.auth, "root@ops.test", password))!;
  admin = callerFor(t.auth, (await callerFor(t.auth).auth.login({ email: "root@ops.test", password })).accessToken).admin;
  for (const name of ["alice@a.test", "bob@b.test", "carol@a.test", "dave@ops.test", "erin@b.test", "frank@a.test"]) {
    clock.advance(1_000);
    ids[name] = (await signUp(t.auth, { email: name, password })).user.id;
  }
  // Two accounts made in the same millisecond: the order between them comes from their ids.
  for (const name of ["gina@c.test", "hugo@c.test"]) ids[name] = (await signUp(t.auth, { email: name, password })).user.id;
  await admin.setRole({ userId: ids["dave@ops.test"]!, role: "admin", reason: "on call" });
  await admin.revokeUser({ userId: ids["erin@b.test"]!, reason: "fraud", lock: true });
  await admin.deleteUser({ userId: ids["frank@a.test"]!, reason: "erasure request" });
});
afterAll(() => t.close());

const emails = (items: PublicUser[]) => items.map((u) => u.email);

/** Every page of a listing, `limit` at a time. */
async function allPages(input: Parameters<typeof admin.users.list>[0], limit: number) {
  const pages: PublicUser[][] = [];
  let cursor: string | undefined;
  do {
    const page = await admin.users.list({ ...input, limit, ...(cursor ? { cursor } : {}) });
    pages.push(page.items);
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return pages;
}

describe("admin.users.list", () => {
  it("lists users newest first, each as every output shows a user; deleted accounts only when asked for", async () => {
    const { items, nextCursor } = await admin.users.list({});
    expect(nextCursor).toBeNull();
    const [gina, hugo] = [ids["gina@c.test"]!, ids["hugo@c.test"]!].sort().reverse();
    expect(items.map((u) => u.id)).toEqual([
      gina,
      hugo,
      ids["erin@b.test"],
      ids["dave@ops.test"],
      ids["carol@a.test"],
      ids["bob@b.test"],
      ids["alice@a.test"],
      root.id,
    ]);
    expect(Object.keys(items[0]!).sort()).toEqual(["createdAt", "email", "emailVerified", "id", "locked", "role"]);
    expect(items.find((u) => u.email === "erin@b.test")).toMatchObject({ locked: true, role: "user" });
    expect(items.find((u) => u.email === "dave@ops.test")).toMatchObject({ locked: false, role: "admin" });

    const withDeleted = await admin.users.list({ includeDeleted: true });
    expect(withDeleted.items).toHaveLength(9);
    expect(withDeleted.items.find((u) => u.id === ids["frank@a.test"])).toMatchObject({
      email: `deleted+${ids["frank@a.test"]}@invalid`,
      locked: true,
      role: "user",
      deleted: true,
    });
    // Asked for deleted accounts, every item says whether it is one (a locked account is not).
    expect(withDeleted.items.filter((u) => u.deleted).map((u) => u.id)).toEqual([ids["frank@a.test"]]);
    expect(withDeleted.items.every((u) => typeof u.deleted === "boolean")).toBe(true);
    expect(withDeleted.items.find((u) => u.email === "erin@b.test")).toMatchObject({ locked: true, deleted: false });
  });

  it("searches any part of the email, canonicalised like an email, as plain text (no wildcards)", async () => {
    expect(emails((await admin.users.list({ query: "  A.TEST " })).items)).toEqual(["carol@a.test", "alice@a.test"]);
    expect(emails((await admin.users.list({ query: "bob" })).items)).toEqual(["bob@b.test"]);
    for (const query of ["%", "_", "a%test", "frank"]) expect((await admin.users.list({ query })).items, query).toEqual([]);
    expect(emails((await admin.users.list({ query: "frank", includeDeleted: false })).items)).toEqual([]);
  });

  it("filters by role and by lock, with the search", async () => {
    expect(emails((await admin.users.list({ role: "admin" })).items)).toEqual(["dave@ops.test", "root@ops.test"]);
    expect(emails((await admin.users.list({ locked: true })).items)).toEqual(["erin@b.test"]);
    expect(emails((await admin.users.list({ locked: false, role: "user", query: "b.test" })).items)).toEqual(["bob@b.test"]);
    expect(emails((await admin.users.list({ locked: true, includeDeleted: true })).items)).toEqual([
      `deleted+${ids["frank@a.test"]}@invalid`,
      "erin@b.test",
    ]);
  });

  it("pages with a cursor: every user once, in the same order, whatever the page size", async () => {
    const whole = (await admin.users.list({ includeDeleted: true })).items.map((u) => u.id);
    for (const limit of [1, 2, 3, 8]) {
      const pages = await allPages({ includeDeleted: true }, limit);
      expect(
        pages.flat().map((u) => u.id),
        `limit ${limit}`,
      ).toEqual(whole);
      expect(pages.every((p) => p.length <= limit)).toBe(true);
    }
    // Filters hold across pages.
    expect(emails((await allPages({ query: "a.test" }, 1)).flat())).toEqual(["carol@a.test", "alice@a.test"]);
    // A user made after the first page does not shift the next ones.
    const first = await admin.users.list({ limit: 3 });
    clock.advance(1_000);
    await signUp(t.auth, { email: `late-${randomUUID()}@z.test`, password });
    const second = await admin.users.list({ limit: 3, cursor: first.nextCursor! });
    expect([...first.items, ...second.items].map((u) => u.id)).toEqual(
      whole.filter((id) => id !== ids["frank@a.test"]).slice(0, 6),
    );
  });

  it("a cursor no user has ends the list; a malformed cursor, limit or query is VALIDATION_FAILED", async () => {
    expect(await admin.users.list({ cursor: randomUUID() })).toEqual({ items: [], nextCursor: null });
    for (const input of [
      { cursor: "not-a-uuid" },
      { cursor: "" },
      { limit: 0 },
      { limit: 201 },
      { limit: 1.5 },
      { limit: "5" },
      { query: "" },
      { query: "   " },
      { query: "a\u0000b" },
      { query: "x".repeat(255) },
      { role: "root" },
      { locked: "yes" },
    ]) {
      expect(await reasonOf(admin.users.list(input as never)), JSON.stringify(input)).toBe("VALIDATION_FAILED");
    }
  });
});
