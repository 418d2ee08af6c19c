import { randomBytes } from "node:crypto";
import postgres from "postgres";
import { createDb, type DbHandle } from "./client.js";

/**
 * Test databases. The vitest global setup migrates one template database and exports
 * WARDEN_TEST_ADMIN_URL / WARDEN_TEST_TEMPLATE_DB; each test file clones the template
 * (fast, no migrations) into a database of its own.
 */
export interface TestDatabase extends DbHandle {
  url: string;
  name: string;
  drop(): Promise<void>;
}

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/** A clone of the migrated template; `{ empty: true }` for a database with no tables (to migrate). */
export async function createTestDatabase(options: { empty?: boolean } = {}): Promise<TestDatabase> {
  const adminUrl = process.env.WARDEN_TEST_ADMIN_URL;
  const template = process.env.WARDEN_TEST_TEMPLATE_DB;
  if (!adminUrl || !template) throw new Error("test database not set up: run tests through `pnpm test`");
  const name = `warden_t_${process.env.WARDEN_TEST_RUN_ID ?? "x"}_${randomBytes(6).toString("hex")}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(options.empty ? `create database "${name}"` : `create database "${name}" template "${template}"`);
  } finally {
    await admin.end();
  }
  const url = withDatabase(adminUrl, name);
  const handle = createDb(url);
  return {
    ...handle,
    url,
    name,
    async drop() {
      await handle.close();
      const a = postgres(adminUrl, { max: 1, onnotice: () => {} });
      try {
        await a.unsafe(`drop database if exists "${name}" with (force)`);
      } finally {
        await a.end();
      }
    },
  };
}
