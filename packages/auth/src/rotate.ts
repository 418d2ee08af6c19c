import { randomUUID } from "node:crypto";
import type { RevocationEvent, Role, TokenPair } from "@warden/contracts";
import { refreshTokens, sessions, users } from "@warden/db";
import { and, eq, isNull } from "drizzle-orm";
import { signAccessToken } from "./access-tokens.js";
import type { Auth } from "./context.js";
import { AuthError } from "./errors.js";
import { announceRevocation, markSessionsRevoked, recordRevocationEvent } from "./revoke.js";
import { rotateInOneStatement } from "./rotate-fast.js";
import { deriveSuccessorToken, generateSuccessorSalt, hashToken, recomputeSuccessorToken } from "./tokens.js";

type Outcome =
  | { kind: "rotated" | "replayed"; successor: string; successorExpiresAt: number; sessionId: string; userId: string; role: Role }
  | { kind: "reused"; event: RevocationEvent; sessionIds: string[] };

/**
 * Exchanges a refresh token for a new pair. The session and token rows are locked for the whole
 * transaction, so concurrent refreshes of one session queue behind each other: the first rotates, the rest find
 * it rotated moments ago and get the same successor (grace), never a second live branch.
 * A rotated token presented after the grace window is theft: the session's revocation commits,
 * then the call fails with REFRESH_TOKEN_REUSED.
 */
export async function rotateRefreshToken(auth: Auth, presented: string): Promise<TokenPair> {
  const now = auth.clock();
  // The common case in one round trip; anything unusual falls through to the locking transaction.
  // A fresh salt per attempt: only the rotation that wins the compare-and-swap stores its own.
  const salt = generateSuccessorSalt();
  const successor = deriveSuccessorToken(auth.refreshKeys[0], salt, presented);
  const fast = await rotateInOneStatement(auth, presented, { token: successor, salt }, now);
  if (fast) return issuePair(auth, { kind: "rotated", successor, ...fast }, now);
  const outcome = await auth.db.transaction(async (tx): Promise<Outcome> => {
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
        lockedAt: users.lockedAt,
      })
      .from(refreshTokens)
      .innerJoin(sessions, eq(sessions.id, refreshTokens.sessionId))
      .innerJoin(users, eq(users.id, sessions.userId))
      .where(eq(refreshTokens.tokenHash, hashToken(presented)))
      // Session first, then token: the same order as revocation (user -> session -> token), so a
      // refresh racing a logout or an admin revocation waits instead of deadlocking.
      .for("update", { of: [sessions, refreshTokens] });
    if (!row) throw new AuthError("REFRESH_TOKEN_INVALID", "unknown refresh token");
    if (row.sessionRevokedAt || row.revokedAt || row.lockedAt) {
      throw new AuthError("REFRESH_TOKEN_REVOKED", "session revoked");
    }
    if (row.sessionExpiresAt.getTime() <= now) throw new AuthError("REFRESH_TOKEN_EXPIRED", "session expired");
    const base = { sessionId: row.sessionId, userId: row.userId, role: row.role };

    if (!row.rotatedAt) {
      if (row.expiresAt.getTime() <= now) throw new AuthError("REFRESH_TOKEN_EXPIRED", "refresh token expired");
      const successorExpiresAt = Math.min(now + auth.settings.refreshTokenTtlMs, row.sessionExpiresAt.getTime());
      await tx
        .update(refreshTokens)
        .set({ rotatedAt: new Date(now), successorSalt: salt })
        .where(and(eq(refreshTokens.id, row.id), isNull(refreshTokens.rotatedAt)));
      await tx.insert(refreshTokens).values({
        id: randomUUID(),
        sessionId: row.sessionId,
        tokenHash: hashToken(successor),
        parentId: row.id,
        createdAt: new Date(now),
        expiresAt: new Date(successorExpiresAt),
      });
      await tx.update(sessions).set({ lastSeenAt: new Date(now) }).where(eq(sessions.id, row.sessionId));
      return { kind: "rotated", successor, successorExpiresAt, ...base };
    }

    // Rotated already. Only the newest rotation, within the grace window, may be retried.
    const [next] = await tx
      .select({ rotatedAt: refreshTokens.rotatedAt, expiresAt: refreshTokens.expiresAt, tokenHash: refreshTokens.tokenHash })
      .from(refreshTokens)
      .where(eq(refreshTokens.parentId, row.id));
    // The successor is recomputed from the salt its rotation stored, under the current refresh key
    // or one from before a data-key rotation, and must be the very token in the child's row.
    const withinGrace = now - row.rotatedAt.getTime() <= auth.settings.refreshReuseGraceMs;
    const replayed =
      next && !next.rotatedAt && withinGrace && row.successorSalt
        ? recomputeSuccessorToken(auth.refreshKeys, row.successorSalt, presented, next.tokenHash)
        : undefined;
    if (next && replayed) return { kind: "replayed", successor: replayed, successorExpiresAt: next.expiresAt.getTime(), ...base };

    const event = await recordRevocationEvent(
      tx,
      {
        type: "refresh_token.reused",
        sessionId: row.sessionId,
        userId: row.userId,
        refreshTokenId: row.id,
        reason: "refresh token reused after rotation",
        actor: { type: "system", id: null },
      },
      now,
    );
    const sessionIds = await markSessionsRevoked(tx, { sessionId: row.sessionId }, event.eventId, event.reason, now);
    return { kind: "reused", event, sessionIds };
  });

  if (outcome.kind === "reused") {
    announceRevocation(auth, outcome.event, outcome.sessionIds);
    throw new AuthError("REFRESH_TOKEN_REUSED", "refresh token reused: the session has been revoked");
  }
  return issuePair(auth, outcome, now);
}

function issuePair(auth: Auth, outcome: Extract<Outcome, { kind: "rotated" | "replayed" }>, now: number): TokenPair {
  const access = signAccessToken(
    auth.keys,
    auth.settings,
    { userId: outcome.userId, sessionId: outcome.sessionId, role: outcome.role },
    now,
    auth.revocations.notBefore(outcome.userId),
  );
  return {
    accessToken: access.token,
    accessTokenExpiresAt: access.expiresAt,
    refreshToken: outcome.successor,
    refreshTokenExpiresAt: outcome.successorExpiresAt,
    sessionId: outcome.sessionId,
  };
}
