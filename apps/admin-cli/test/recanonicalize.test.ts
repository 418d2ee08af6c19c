import { hashPassword } from "@warden/auth";
import { createTestDatabase, type TestDatabase } from "@warden/db/testing";
import { outboxEvents, users } from "@warden/db";
import { afterAll, beforeAll, expect, it } from "vitest";
import { bootstrapAdmin } from "../src/admin-create.js";

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

it("admin create re-canonicalises stored emails before it touches users: the newer of two colliding accounts is locked", async () => {
  const passwordHash = await hashPassword("some password");
  // As an older Warden stored them: "ǰ" and "J̌" (lower-cased after NFC: j + U+030C) were two accounts.
  const [, newer] = await db.db
    .insert(users)
    .values([
      { email: "\u01F0o@corp.test", passwordHash, createdAt: new Date("2025-01-01T00:00:00Z") },
      { email: "j\u030Co@corp.test", passwordHash, createdAt: new Date("2025-02-01T00:00:00Z") },
    ])
    .returning({ id: users.id });
  await bootstrapAdmin(db.url, "root@corp.test", "admin password 1", { promoteExisting: false });
  const [lost] = await db.sql`select locked_at from users where id = ${newer!.id}`;
  expect(lost!.locked_at).not.toBeNull();
  // The collision's revocation, then the admin's creation (audited like a signup, by the system).
  expect(await db.db.select({ type: outboxEvents.type }).from(outboxEvents).orderBy(outboxEvents.seq)).toEqual([
    { type: "user.revoked" },
    { type: "user.signed_up" },
  ]);
});
