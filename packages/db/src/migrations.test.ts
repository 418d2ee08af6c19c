import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { drizzle } from "drizzle-orm/postgres-js";
import { migrate } from "drizzle-orm/postgres-js/migrator";
import postgres from "postgres";
import { afterAll, beforeAll, expect, it } from "vitest";
import { MIGRATIONS_FOLDER, migrateDb } from "./migrate.js";
import { createTestDatabase, type TestDatabase } from "./testing.js";

let database: TestDatabase;
const folder = mkdtempSync(path.join(os.tmpdir(), "warden-migrations-"));

beforeAll(async () => {
  database = await createTestDatabase({ empty: true });
});
afterAll(async () => {
  await database?.drop();
  rmSync(folder, { recursive: true, force: true });
});

/** The committed migrations up to (not including) the one whose tag starts with `before`. */
function migrationsBefore(before: string): string {
  cpSync(MIGRATIONS_FOLDER, folder, { recursive: true });
  const journalPath = path.join(folder, "meta", "_journal.json");
  const journal = JSON.parse(readFileSync(journalPath, "utf8")) as { entries: { tag: string; idx: number }[] };
  const cut = journal.entries.findIndex((e) => e.tag.startsWith(before));
  expect(cut).toBeGreaterThan(0);
  writeFileSync(journalPath, JSON.stringify({ ...journal, entries: journal.entries.slice(0, cut) }));
  return folder;
}

it("accounts that exist before email verification are marked verified by its migration; new ones start unverified", async () => {
  const sql = postgres(database.url, { max: 1, onnotice: () => {} });
  try {
    await migrate(drizzle({ client: sql }), { migrationsFolder: migrationsBefore("0004_") });
    const createdAt = new Date("2025-06-01T00:00:00Z");
    await sql`insert into users (email, password_hash, created_at) values ('old@example.com', 'x', ${createdAt.toISOString()})`;

    await migrateDb(database.url);
    await sql`insert into users (email, password_hash, created_at) values ('new@example.com', 'x', now())`;
    const rows = await sql<{ email: string; verified: boolean; since_creation: boolean | null }[]>`
      select email, email_verified_at is not null as verified, email_verified_at = created_at as since_creation
      from users order by email`;
    expect(rows).toEqual([
      { email: "new@example.com", verified: false, since_creation: null },
      { email: "old@example.com", verified: true, since_creation: true },
    ]);
  } finally {
    await sql.end({ timeout: 5 });
  }
});
