import { randomBytes } from "node:crypto";
import {
  AuthError,
  createAdmin,
  createAuth,
  createKeyRing,
  hs256KeyFromSecret,
  promoteToAdmin,
  recanonicalizeEmails,
  type Auth,
} from "@warden/auth";
import type { PublicUser } from "@warden/contracts";
import { createDb, migrateDb } from "@warden/db";
import { CliError, EXIT } from "./exit-codes.js";

export type AdminCreated =
  { outcome: "created"; user: PublicUser } | { outcome: "promoted"; user: PublicUser; eventId: string; revokedSessions: number };

/**
 * Bootstrap: the first admin cannot be made through the API (that needs an admin), so this goes
 * to the database with the domain functions the server uses. Migrations are applied first, so it
 * works on a fresh database too. An email that already has an account is refused unless
 * `promoteExisting`: someone may have signed it up to inherit the role.
 */
export async function bootstrapAdmin(
  databaseUrl: string,
  email: string,
  password: string,
  options: { promoteExisting: boolean },
): Promise<AdminCreated> {
  try {
    await migrateDb(databaseUrl);
  } catch (error) {
    throw new CliError(`cannot reach the database: ${(error as Error).message}`, EXIT.UNAVAILABLE);
  }
  const database = createDb(databaseUrl, { max: 1 });
  // Signs nothing; a throwaway key only satisfies createAuth's shape. The outbox relay of a running
  // auth server carries a promotion's revocation to the worker and every verifier.
  const auth = createAuth({
    db: database.db,
    keys: createKeyRing(hs256KeyFromSecret(randomBytes(32))),
    settings: { issuer: "warden-cli", audience: "warden-cli" },
  });
  try {
    await recanonicalizeEmails(auth, console);
    const created = await createAdmin(auth, email, password);
    if (created) return { outcome: "created", user: created };
    if (!options.promoteExisting) {
      throw new CliError(
        `an account with email ${email} already exists and was left unchanged; rerun with --promote-existing to revoke all of its sessions, set this password and make it admin`,
        EXIT.USAGE,
      );
    }
    return { outcome: "promoted", ...(await promote(auth, email, password)) };
  } finally {
    auth.revocations.close();
    await database.close();
  }
}

async function promote(auth: Auth, email: string, password: string) {
  try {
    return await promoteToAdmin(auth, {
      email,
      password,
      reason: "promoted to admin by `warden admin create`",
      actor: { type: "system", id: null },
    });
  } catch (error) {
    // Deleted between the two steps.
    if (error instanceof AuthError && error.reason === "NOT_FOUND")
      throw new CliError(`no account with email ${email} any more; run the command again`, EXIT.NOT_FOUND);
    throw error;
  }
}
