import { users } from "@warden/db";
import { eq } from "drizzle-orm";
import { AuthError } from "./errors.js";
import type { DbOrTx } from "./sessions.js";

/**
 * The account's row, locked (FOR UPDATE) for the rest of the caller's transaction, with what the
 * changes made to it read (its role and lock, for the last-admin rule); NOT_FOUND when there is
 * none or it was deleted. Every change to a user takes it first: user, then sessions, then tokens
 * is the order every lock is taken in.
 */
export async function lockLiveUser(tx: DbOrTx, userId: string) {
  const [user] = await tx
    .select({ id: users.id, role: users.role, lockedAt: users.lockedAt, deletedAt: users.deletedAt })
    .from(users)
    .where(eq(users.id, userId))
    .for("update");
  if (!user || user.deletedAt) throw new AuthError("NOT_FOUND", "no such user");
  return user;
}
