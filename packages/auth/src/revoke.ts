import { randomUUID } from "node:crypto";
import { notBeforeOf, type Actor, type RevocationEvent } from "@warden/contracts";
import { outboxEvents, refreshTokens, sessions, users } from "@warden/db";
import { and, eq, inArray, isNull, ne } from "drizzle-orm";
import { revocationUntil, type Auth } from "./context.js";
import { AuthError } from "./errors.js";
import { keepAnUnlockedAdmin } from "./last-admin.js";
import { lockLiveUser } from "./live-user.js";
import { clientColumns, type ClientInfo, type DbOrTx } from "./sessions.js";

type Distribute<T> = T extends unknown ? Omit<T, "eventId" | "at"> : never;
export type NewRevocationEvent = Distribute<RevocationEvent>;

/** Who made a change, and the request it came from (kept beside its event for the audit, never in it). */
export interface MadeBy {
  actor: Actor;
  client?: ClientInfo | undefined;
}

export interface RecordEventOptions {
  /** The event's id when the caller needs it before the write (an email's link is derived from it). */
  eventId?: string;
  /** The request that made it: kept beside the event (never in it) for the audit row. */
  client?: ClientInfo | undefined;
}

/** Writes the event to the outbox in the caller's transaction: it commits with the state change or not at all. */
export async function recordRevocationEvent(
  tx: DbOrTx,
  event: NewRevocationEvent,
  at: number,
  options: RecordEventOptions = {},
): Promise<RevocationEvent> {
  const full = { ...event, eventId: options.eventId ?? randomUUID(), at } as RevocationEvent;
  await tx
    .insert(outboxEvents)
    .values({ id: full.eventId, type: full.type, payload: full, createdAt: new Date(at), ...clientColumns(options.client) });
  return full;
}

/**
 * Marks sessions revoked and their refresh tokens dead, in the caller's transaction: one session,
 * or every session of a user (but `exceptSessionId`, the one a password change keeps).
 */
export async function markSessionsRevoked(
  tx: DbOrTx,
  where: { sessionId: string } | { userId: string; exceptSessionId?: string },
  eventId: string,
  reason: string,
  at: number,
): Promise<string[]> {
  const filter =
    "sessionId" in where
      ? eq(sessions.id, where.sessionId)
      : where.exceptSessionId
        ? and(eq(sessions.userId, where.userId), ne(sessions.id, where.exceptSessionId))
        : eq(sessions.userId, where.userId);
  // Locked in id order first, the order a batch of refreshes locks its sessions in: a user-wide
  // revocation racing refreshes of two of the user's sessions waits instead of deadlocking.
  const revoked = await tx
    .update(sessions)
    .set({ revokedAt: new Date(at), revokedReason: reason, revokedEventId: eventId })
    .where(
      inArray(
        sessions.id,
        tx
          .select({ id: sessions.id })
          .from(sessions)
          .where(and(filter, isNull(sessions.revokedAt)))
          .orderBy(sessions.id)
          .for("update"),
      ),
    )
    .returning({ id: sessions.id });
  const ids = revoked.map((r) => r.id);
  if (ids.length > 0) {
    await tx
      .update(refreshTokens)
      .set({ revokedAt: new Date(at) })
      // A subquery, not the id list: a user with 100k sessions would exceed PostgreSQL's 65,535 parameters.
      .where(
        and(
          inArray(
            refreshTokens.sessionId,
            tx.select({ id: sessions.id }).from(sessions).where(eq(sessions.revokedEventId, eventId)),
          ),
          isNull(refreshTokens.revokedAt),
        ),
      );
  }
  return ids;
}

/**
 * After commit: this process refuses the sessions (and the user's tokens issued before a
 * not-before the event sets) at once; the outbox carries it everywhere else.
 */
export function announceRevocation(auth: Auth, event: RevocationEvent, sessionIds: string[]): void {
  auth.revocations.add(sessionIds, revocationUntil(auth, event.at));
  const notBefore = notBeforeOf(event);
  if (notBefore) auth.revocations.addNotBefore(notBefore.userId, notBefore.notBefore, revocationUntil(auth, notBefore.notBefore));
  auth.afterRevocation(event, sessionIds);
}

export interface RevokeSessionInput {
  sessionId: string;
  /** When set, the session must belong to this user (NOT_FOUND otherwise). */
  ownerId?: string;
  reason: string;
  actor: Actor;
  client?: ClientInfo | undefined;
}

/** Revokes one session. Returns the event id; NOT_FOUND when there is no such session (for this owner). */
export async function revokeSession(auth: Auth, input: RevokeSessionInput): Promise<{ eventId: string | null | undefined }> {
  const at = auth.clock();
  const result = await auth.db.transaction(async (tx) => {
    const [session] = await tx
      .select({
        id: sessions.id,
        userId: sessions.userId,
        revokedAt: sessions.revokedAt,
        revokedEventId: sessions.revokedEventId,
      })
      .from(sessions)
      .where(eq(sessions.id, input.sessionId))
      .for("update");
    if (!session || (input.ownerId !== undefined && session.userId !== input.ownerId)) {
      throw new AuthError("NOT_FOUND", "no such session");
    }
    // Already revoked: nothing changes and no second event is emitted.
    if (session.revokedAt) return { existingEventId: session.revokedEventId };
    const event = await recordRevocationEvent(
      tx,
      { type: "session.revoked", sessionId: session.id, userId: session.userId, reason: input.reason, actor: input.actor },
      at,
      { client: input.client },
    );
    const ids = await markSessionsRevoked(tx, { sessionId: session.id }, event.eventId, input.reason, at);
    return { event, ids };
  });
  if ("existingEventId" in result) return { eventId: result.existingEventId };
  announceRevocation(auth, result.event, result.ids);
  return { eventId: result.event.eventId };
}

export interface RevokeUserInput {
  userId: string;
  reason: string;
  actor: Actor;
  lock?: boolean;
  client?: ClientInfo | undefined;
}

/**
 * Revokes every session of a user (and optionally locks the account) in one transaction. Locking
 * the last unlocked admin is LAST_ADMIN; a deleted account is NOT_FOUND.
 */
export async function revokeUserSessions(
  auth: Auth,
  input: RevokeUserInput,
): Promise<{ eventId: string; revokedSessions: number }> {
  const result = await auth.db.transaction(async (tx) => {
    const user = await lockLiveUser(tx, input.userId);
    if (input.lock) await keepAnUnlockedAdmin(auth, tx, user);
    const at = auth.clock();
    // A lock also sets the not-before: tokens of sessions this transaction cannot see are refused too.
    if (input.lock)
      await tx
        .update(users)
        .set({ lockedAt: new Date(at), tokensNotBefore: new Date(at) })
        .where(eq(users.id, user.id));
    const event = await recordRevocationEvent(
      tx,
      { type: "user.revoked", userId: user.id, lock: input.lock ?? false, reason: input.reason, actor: input.actor },
      at,
      { client: input.client },
    );
    const ids = await markSessionsRevoked(tx, { userId: user.id }, event.eventId, input.reason, at);
    return { event, ids };
  });
  announceRevocation(auth, result.event, result.ids);
  return { eventId: result.event.eventId, revokedSessions: result.ids.length };
}
