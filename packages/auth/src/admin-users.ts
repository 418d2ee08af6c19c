import { oneTimeTokens, sessions, users } from "@warden/db";
import { eq } from "drizzle-orm";
import { eraseAuditClients } from "./audit.js";
import type { Auth } from "./context.js";
import { keepAnUnlockedAdmin } from "./last-admin.js";
import { lockLiveUser } from "./live-user.js";
import { eraseOutboxClients } from "./outbox.js";
import { announceRevocation, markSessionsRevoked, recordRevocationEvent, type MadeBy } from "./revoke.js";
import type { DbOrTx } from "./sessions.js";

export interface AdminChangeInput extends MadeBy {
  userId: string;
  reason: string;
}

/**
 * The email a deleted account keeps: unique per row, and refused by the email schema (no dot in
 * its domain), so nobody can sign up, sign in or ask for a reset with it; the real address is free.
 */
export function deletedEmail(userId: string): string {
  return `deleted+${userId}@invalid`;
}

/** Not an argon2 hash: every password check against it fails. */
const UNUSABLE_PASSWORD_HASH = "!deleted";

/**
 * Unlocks an account (a `user.unlocked` event in the same transaction): it may sign in again. Its
 * sessions stay revoked. An account that is not locked is left as it is (eventId null).
 */
export async function unlockUser(auth: Auth, input: AdminChangeInput): Promise<{ eventId: string | null }> {
  const event = await auth.db.transaction(async (tx) => {
    const user = await lockLiveUser(tx, input.userId);
    if (!user.lockedAt) return undefined;
    // Taken with the row locked, as by every change to a user: a change that waited is stamped when it went through.
    const at = auth.clock();
    await tx.update(users).set({ lockedAt: null }).where(eq(users.id, user.id));
    return recordRevocationEvent(tx, { type: "user.unlocked", userId: user.id, reason: input.reason, actor: input.actor }, at, {
      client: input.client,
    });
  });
  if (!event) return { eventId: null };
  auth.sessionCache.forgetUser(input.userId);
  announceRevocation(auth, event, []);
  return { eventId: event.eventId };
}

/**
 * Deletes an account, in one transaction with its `user.deleted` event: every session is revoked
 * (the worker then blacklists and publishes them like a user revocation) and the account's
 * personal data is erased in place. The row stays, anonymised: email replaced by a placeholder (the
 * address is free again), password unusable, locked, plain user, not-before set. Sessions keep
 * their rows (the revocation feed is rebuilt from them) without device name, address or user
 * agent; reset and verification links are deleted; the outbox and the audit keep their rows
 * without the addresses and user agents of the account's requests. Deleting the last unlocked
 * admin is LAST_ADMIN; a deleted or unknown account is NOT_FOUND.
 */
export async function deleteUser(auth: Auth, input: AdminChangeInput): Promise<{ eventId: string; revokedSessions: number }> {
  const result = await auth.db.transaction(async (tx) => {
    const user = await lockLiveUser(tx, input.userId);
    await keepAnUnlockedAdmin(auth, tx, user);
    const at = auth.clock();
    const event = await recordRevocationEvent(
      tx,
      { type: "user.deleted", userId: user.id, reason: input.reason, actor: input.actor },
      at,
      { client: input.client },
    );
    const ids = await markSessionsRevoked(tx, { userId: user.id }, event.eventId, input.reason, at);
    await anonymiseUser(tx, user.id, at);
    await eraseUserTraces(tx, user.id);
    return { event, ids };
  });
  auth.sessionCache.forgetUser(input.userId);
  announceRevocation(auth, result.event, result.ids);
  return { eventId: result.event.eventId, revokedSessions: result.ids.length };
}

async function anonymiseUser(tx: DbOrTx, userId: string, at: number): Promise<void> {
  await tx
    .update(users)
    .set({
      email: deletedEmail(userId),
      passwordHash: UNUSABLE_PASSWORD_HASH,
      role: "user",
      emailVerifiedAt: null,
      // Locked and not-before: a session this transaction could not see (none can: login reads the
      // row FOR SHARE) and every access token issued before now are refused as well.
      lockedAt: new Date(at),
      tokensNotBefore: new Date(at),
      deletedAt: new Date(at),
    })
    .where(eq(users.id, userId));
}

/**
 * Everything else that names the account's requests or devices. The outbox rows go first: a worker
 * copying one into the audit holds it FOR UPDATE, so either its audit row is committed before the
 * audit is erased below, or it reads the row after this transaction has cleared it.
 */
async function eraseUserTraces(tx: DbOrTx, userId: string): Promise<void> {
  await tx.update(sessions).set({ deviceName: null, ip: null, userAgent: null }).where(eq(sessions.userId, userId));
  await tx.delete(oneTimeTokens).where(eq(oneTimeTokens.userId, userId));
  await eraseOutboxClients(tx, userId);
  await eraseAuditClients(tx, userId);
}
