import { randomBytes } from "node:crypto";
import { createAuth, createKeyRing, ensureAdmin, hs256KeyFromSecret, recanonicalizeEmails } from "@warden/auth";
import type { PublicUser } from "@warden/contracts";
import { createDb, migrateDb } from "@warden/db";
import { CliError, EXIT } from "./exit-codes.js";

/**
 * Bootstrap: the first admin cannot be made through the API (that needs an admin), so this goes
 * to the database with the same domain function the server uses at start (WARDEN_ADMIN_EMAIL).
 * Migrations are applied first, so it works on a fresh database too.
 */
export async function createAdmin(databaseUrl: string, email: string, password: string): Promise<PublicUser> {
  try {
    await migrateDb(databaseUrl);
  } catch (error) {
    throw new CliError(`cannot reach the database: ${(error as Error).message}`, EXIT.UNAVAILABLE);
  }
  const database = createDb(databaseUrl, { max: 1 });
  try {
    // ensureAdmin signs nothing; a throwaway key only satisfies createAuth's shape.
    const auth = createAuth({
      db: database.db,
      keys: createKeyRing(hs256KeyFromSecret(randomBytes(32))),
      settings: { issuer: "warden-cli", audience: "warden-cli" },
    });
    await recanonicalizeEmails(auth, console);
    return await ensureAdmin(auth, email, password);
  } finally {
    await database.close();
  }
}
