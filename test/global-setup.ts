import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { migrateDb, startEmbeddedPostgres, type EmbeddedDatabase } from "@warden/db";
import { withDatabase } from "@warden/db/testing";
import postgres from "postgres";

/**
 * Finds a PostgreSQL to test against (TEST_DATABASE_URL, else the local server, else an embedded
 * one), migrates a template database once, and exports where it is: every test file clones the
 * template into a database of its own.
 */
const LOCAL_URL = "postgres://postgres@127.0.0.1:5432/postgres";

async function reachable(url: string): Promise<boolean> {
  const sql = postgres(url, { max: 1, connect_timeout: 3, onnotice: () => {} });
  try {
    await sql`select 1`;
    return true;
  } catch {
    return false;
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {});
  }
}

export default async function setup() {
  let embedded: EmbeddedDatabase | undefined;
  let embeddedDir: string | undefined;
  let adminUrl = process.env.TEST_DATABASE_URL ?? LOCAL_URL;
  if (!(await reachable(adminUrl))) {
    if (process.env.TEST_DATABASE_URL) throw new Error(`TEST_DATABASE_URL does not answer: ${adminUrl}`);
    embeddedDir = await mkdtemp(path.join(os.tmpdir(), "warden-test-pg-"));
    embedded = await startEmbeddedPostgres({ dataDir: path.join(embeddedDir, "data"), database: "postgres", persistent: false });
    adminUrl = embedded.url;
  }
  const template = `warden_tpl_${process.pid}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`drop database if exists "${template}" with (force)`);
  await admin.unsafe(`create database "${template}"`);
  await migrateDb(withDatabase(adminUrl, template));
  process.env.WARDEN_TEST_ADMIN_URL = adminUrl;
  process.env.WARDEN_TEST_TEMPLATE_DB = template;
  process.env.WARDEN_TEST_RUN_ID = String(process.pid);
  process.env.REDIS_URL ??= "redis://127.0.0.1:6379";

  return async () => {
    // Databases of test files that crashed before dropping theirs.
    const stale = await admin<
      { datname: string }[]
    >`select datname from pg_database where datname like ${`warden_t_${process.pid}_%`}`;
    for (const { datname } of stale) await admin.unsafe(`drop database if exists "${datname}" with (force)`).catch(() => {});
    await admin.unsafe(`drop database if exists "${template}" with (force)`);
    await admin.end();
    await embedded?.stop();
    if (embeddedDir && existsSync(embeddedDir)) await rm(embeddedDir, { recursive: true, force: true });
  };
}
