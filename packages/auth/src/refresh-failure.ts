import type { RevocationEvent, Role } from "@warden/contracts";
import { refreshTokens, sessions, users } from "@warden/db";
import { and, eq } from "drizzle-orm";
import type { Auth } from "./context.js";
import { AuthError } from "./errors.js";
import { announceRevocation, markSessionsRevoked, recordRevocationEvent } from "./revoke.js";
import type { ClientInfo, DbOrTx } from "./sessions.js";
import { hashToken, recomputeSuccessorToken } from "./tokens.js";

/** A retry of the newest rotation within the grace window: the successor that rotation produced. */
export interface Replay {
  kind: "replayed";
  successor: string;
  successorExpiresAt: number;
  sessionId: string;
  userId: string;
  role: Role;
  /** The user's not-before read with `role` (see Rotation). */
  tokensNotBefore: number | undefined;
}

/** A live token that was never rotated: the rotation lost a race and may be tried again. */
export interface NotRotated {
  kind: "not-rotated";
}

type Verdict = Replay | NotRotated | { kind: "reused"; event: RevocationEvent; sessionIds: string[] };

/**
 * Why a refresh token was not rotated, told under the session and token row locks. Throws
 * REFRESH_TOKEN_INVALID (unknown), REFRESH_TOKEN_EXPIRED (idle or absolute limit),
 * REFRESH_TOKEN_REVOKED (session or token revoked, account locked), or REFRESH_TOKEN_REUSED (a
 * rotated token outside its grace: the session's revocation commits before the call fails, its
 * event carrying the presenter's `client` to the audit).
 * Returns the successor of a grace retry, or `not-rotated` for a live token the rotation
 * missed; it never rotates a token itself (rotate.ts holds the one statement that does).
 */
export async function classifyRefreshFailure(
  auth: Auth,
  presented: string,
  now: number,
  client?: ClientInfo,
): Promise<Replay | NotRotated> {
  const verdict = await auth.db.transaction(async (tx): Promise<Verdict> => {
    const row = await lockPresentedToken(tx, presented);
    if (!row) throw new AuthError("REFRESH_TOKEN_INVALID", "unknown refresh token");
    if (row.sessionRevokedAt || row.revokedAt || row.lockedAt) {
      throw new AuthError("REFRESH_TOKEN_REVOKED", "session revoked");
    }
    if (row.sessionExpiresAt.getTime() <= now) throw new AuthError("REFRESH_TOKEN_EXPIRED", "session expired");
    if (!row.rotatedAt) {
      if (row.expiresAt.getTime() <= now) throw new AuthError("REFRESH_TOKEN_EXPIRED", "refresh token expired");
      return { kind: "not-rotated" };
    }

    // Rotated already. Only the newest rotation, within the grace window, may be retried.
    const [next] = await tx
      .select({ rotatedAt: refreshTokens.rotatedAt, expiresAt: refreshTokens.expiresAt, tokenHash: refreshTokens.tokenHash })
      .from(refreshTokens)
      // Through the session's tokens (indexed): parent_id has no index of its own, which would
      // cost every rotation an index insert for the sake of this rare path.
      .where(and(eq(refreshTokens.sessionId, row.sessionId), eq(refreshTokens.parentId, row.id)));
    // The successor is recomputed from the salt its rotation stored, under the current refresh key
    // or one from before a data-key rotation, and must be the very token in the child's row.
    const withinGrace = now - row.rotatedAt.getTime() <= auth.settings.refreshReuseGraceMs;
    const replayed =
      next && !next.rotatedAt && withinGrace && row.successorSalt
        ? recomputeSuccessorToken(auth.refreshKeys, row.successorSalt, presented, next.tokenHash)
        : undefined;
    if (next && replayed) {
      const base = {
        sessionId: row.sessionId,
        userId: row.userId,
        role: row.role,
        tokensNotBefore: row.tokensNotBefore?.getTime(),
      };
      return { kind: "replayed", successor: replayed, successorExpiresAt: next.expiresAt.getTime(), ...base };
    }

    return revokeReusedSession(tx, row, now, client);
  });

  if (verdict.kind === "reused") {
    announceRevocation(auth, verdict.event, verdict.sessionIds);
    throw new AuthError("REFRESH_TOKEN_REUSED", "refresh token reused: the session has been revoked");
  }
  return verdict;
}

/** The presented token with its session and user, the session and token rows locked in that order. */
async function lockPresentedToken(tx: DbOrTx, presented: string) {
  const [row] = await tx
    .select({
      id: refreshTokens.id,
      expiresAt: refreshTokens.expiresAt,
      rotatedAt: refreshTokens.rotatedAt,
      revokedAt: refreshTokens.revokedAt,
      successorSalt: refreshTokens.successorSalt,
      sessionId: sessions.id,
      sessionExpiresAt: sessions.expiresAt,
      sessionRevokedAt: sessions.revokedAt,
      userId: users.id,
      role: users.role,
      tokensNotBefore: users.tokensNotBefore,
      lockedAt: users.lockedAt,
    })
    .from(refreshTokens)
    .innerJoin(sessions, eq(sessions.id, refreshTokens.sessionId))
    .innerJoin(users, eq(users.id, sessions.userId))
    .where(eq(refreshTokens.tokenHash, hashToken(presented)))
    // Session first, then token: the same order as revocation (user -> session -> token), so a
    // refresh racing a logout or an admin revocation waits instead of deadlocking.
    .for("update", { of: [sessions, refreshTokens] });
  return row;
}

/**
 * Theft: a rotated token presented outside its grace. The session is revoked with its outbox event;
 * where the token came back from (the presenter's address and user agent) goes beside the event,
 * for the audit.
 */
async function revokeReusedSession(
  tx: DbOrTx,
  token: { id: string; sessionId: string; userId: string },
  now: number,
  client: ClientInfo | undefined,
): Promise<Verdict> {
  const event = await recordRevocationEvent(
    tx,
    {
      type: "refresh_token.reused",
      sessionId: token.sessionId,
      userId: token.userId,
      refreshTokenId: token.id,
      reason: "refresh token reused after rotation",
      actor: { type: "system", id: null },
    },
    now,
    { client },
  );
  const sessionIds = await markSessionsRevoked(tx, { sessionId: token.sessionId }, event.eventId, event.reason, now);
  return { kind: "reused", event, sessionIds };
}
