import { outboxEvents, refreshTokens, sessions, webhookDeliveries, type Database } from "@warden/db";
import { and, isNotNull, lt, ne, or } from "drizzle-orm";
import { pruneOneTimeTokens } from "./one-time-tokens.js";

export interface PruneOptions {
  now: number;
  /** Idle limit of a session (REFRESH_TOKEN_TTL). */
  refreshTokenTtlMs: number;
  /** How long applied outbox events and revoked or expired sessions are kept for the admin views. */
  retentionMs: number;
}

export interface PruneResult {
  sessions: number;
  refreshTokens: number;
  outboxEvents: number;
  oneTimeTokens: number;
  webhookDeliveries: number;
}

/**
 * Deletes what can no longer matter: sessions past their absolute or idle limit, or revoked, for
 * longer than the retention (their refresh tokens go with them: a dead session's token is refused
 * whether or not its row exists); refresh tokens expired and rotated long ago inside live sessions;
 * outbox events applied and published longer ago than the retention; expired reset and verification tokens;
 * webhook deliveries that ended (succeeded or failed) longer ago than the retention.
 */
export async function pruneExpired(db: Database, options: PruneOptions): Promise<PruneResult> {
  const cutoff = new Date(options.now - options.retentionMs);
  const idleCutoff = new Date(options.now - options.refreshTokenTtlMs - options.retentionMs);
  const deadSessions = await db
    .delete(sessions)
    .where(or(lt(sessions.expiresAt, cutoff), lt(sessions.lastSeenAt, idleCutoff), lt(sessions.revokedAt, cutoff)))
    .returning({ id: sessions.id });
  // Ancestors of the live token: kept for the retention so a replay is still detected as theft.
  const oldTokens = await db
    .delete(refreshTokens)
    .where(and(isNotNull(refreshTokens.rotatedAt), lt(refreshTokens.expiresAt, cutoff)))
    .returning({ id: refreshTokens.id });
  const oldEvents = await db
    .delete(outboxEvents)
    .where(and(isNotNull(outboxEvents.publishedAt), lt(outboxEvents.appliedAt, cutoff)))
    .returning({ id: outboxEvents.id });
  const expiredLinks = await pruneOneTimeTokens(db, options.now);
  const oldDeliveries = await db
    .delete(webhookDeliveries)
    .where(and(ne(webhookDeliveries.status, "pending"), lt(webhookDeliveries.updatedAt, cutoff)))
    .returning({ id: webhookDeliveries.id });
  return {
    sessions: deadSessions.length,
    refreshTokens: oldTokens.length,
    outboxEvents: oldEvents.length,
    oneTimeTokens: expiredLinks,
    webhookDeliveries: oldDeliveries.length,
  };
}
