import type { Role } from "@warden/contracts";
import { users } from "@warden/db";
import { and, count, eq, isNull, ne, sql } from "drizzle-orm";
import type { Auth } from "./context.js";
import { AuthError } from "./errors.js";
import type { DbOrTx } from "./sessions.js";

/**
 * Name of the transaction-level advisory lock that every change which can take away an unlocked
 * admin (a demotion, a lock, a deletion) holds while it counts the others. Without it two admins
 * demoting each other at once would each count the other, and both commit. Keyed by
 * `hashtext(name)`, as Warden's other advisory locks are: a namespaced name, not a bare number
 * another application on the database could pick too.
 */
const LAST_ADMIN_LOCK = "warden:last-admin";

/**
 * Refuses, with LAST_ADMIN, a change that takes `target` out of the unlocked admins when no other
 * is left. Call it in the change's transaction with the target's row already locked (FOR UPDATE),
 * before writing anything. Only such changes wait for one another: the lock is taken when the
 * target is an unlocked admin, and the count reads committed rows after it is granted (READ
 * COMMITTED: each statement sees what committed before it began).
 */
export async function keepAnUnlockedAdmin(
  auth: Auth,
  tx: DbOrTx,
  target: { id: string; role: Role; lockedAt: Date | null },
): Promise<void> {
  if (target.role !== "admin" || target.lockedAt) return;
  await auth.hooks?.beforeAdminCount?.();
  await tx.execute(sql`select pg_advisory_xact_lock(hashtext(${LAST_ADMIN_LOCK}))`);
  const [others] = await tx
    .select({ n: count() })
    .from(users)
    .where(and(eq(users.role, "admin"), isNull(users.lockedAt), ne(users.id, target.id)));
  if (!others || others.n === 0) {
    throw new AuthError("LAST_ADMIN", "this is the last unlocked admin: promote or unlock another admin first");
  }
}
