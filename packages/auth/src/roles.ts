import type { Actor, Role } from "@warden/contracts";
import { users } from "@warden/db";
import { eq } from "drizzle-orm";
import type { Auth } from "./context.js";
import { keepAnUnlockedAdmin } from "./last-admin.js";
import { lockLiveUser } from "./live-user.js";
import { announceRevocation, recordRevocationEvent } from "./revoke.js";
import type { ClientInfo } from "./sessions.js";

export interface SetUserRoleInput {
  userId: string;
  role: Role;
  reason: string;
  actor: Actor;
  client?: ClientInfo | undefined;
}

/**
 * Changes a user's role. The role, the user's not-before and a `user.role_changed` event commit
 * in one transaction; after commit this process refuses the user's older access tokens at once,
 * and the event carries the not-before to every other instance and verifier. Those tokens carry
 * the old role, so they are refused as TOKEN_EXPIRED and clients renew with the new role. No
 * session ends. Setting the role a user already has changes nothing (eventId null). Demoting the
 * last unlocked admin is LAST_ADMIN; a deleted account is NOT_FOUND.
 */
export async function setUserRole(auth: Auth, input: SetUserRoleInput): Promise<{ eventId: string | null }> {
  const result = await auth.db.transaction(async (tx) => {
    const current = await lockLiveUser(tx, input.userId);
    if (current.role === input.role) return undefined;
    await keepAnUnlockedAdmin(auth, tx, current);
    // Taken with the row locked: a concurrent role change commits entirely before or after this one.
    const at = auth.clock();
    await tx
      .update(users)
      .set({ role: input.role, tokensNotBefore: new Date(at) })
      .where(eq(users.id, input.userId));
    return recordRevocationEvent(
      tx,
      { type: "user.role_changed", userId: input.userId, role: input.role, reason: input.reason, actor: input.actor },
      at,
      { client: input.client },
    );
  });
  if (!result) return { eventId: null };
  announceRevocation(auth, result, []);
  return { eventId: result.eventId };
}
