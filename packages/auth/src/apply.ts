import type { RevocationEvent } from "@warden/contracts";
import { auditLog, outboxEvents, refreshTokens, sessions, type Database } from "@warden/db";
import { and, eq, isNull, sql } from "drizzle-orm";
import { REVOCATION_SLACK_MS } from "./context.js";
import type { DbOrTx } from "./sessions.js";

export interface ApplyOptions {
  /** Sends the revoked session ids to every verifier (idempotent: `publishRevocations`). */
  publish: (sessionIds: string[], until: number) => Promise<void>;
  /** Access-token lifetime: feed entries must outlive the last token of a revoked session. */
  accessTokenTtlMs: number;
  now?: () => number;
}

export interface ApplyResult {
  /** True when the event had been applied before: nothing changed. */
  alreadyApplied: boolean;
  sessionIds: string[];
}

/**
 * Sessions the event covers: exactly those its producer revoked. A user revocation holds the user
 * row FOR UPDATE and a login holds it FOR SHARE until its session commits, so the producer already
 * saw every session committed before it, and every later one is a new login that stays alive (no
 * comparison of one server's clock with another's). A plain read, so a redelivery finds the same set.
 */
async function coveredSessions(tx: DbOrTx, event: RevocationEvent): Promise<string[]> {
  if (event.type !== "user.revoked") {
    // The producer marked this session revoked in the event's own transaction.
    return [event.sessionId];
  }
  const rows = await tx.select({ id: sessions.id }).from(sessions).where(eq(sessions.revokedEventId, event.eventId));
  return rows.map((r) => r.id);
}

/** Kills every refresh token of the sessions (a subquery, so 100k sessions are one statement). */
async function blacklistRefreshTokens(tx: DbOrTx, event: RevocationEvent, at: Date): Promise<void> {
  const scope =
    event.type === "user.revoked"
      ? sql`${refreshTokens.sessionId} in (select ${sessions.id} from ${sessions} where ${sessions.revokedEventId} = ${event.eventId})`
      : eq(refreshTokens.sessionId, event.sessionId);
  await tx.update(refreshTokens).set({ revokedAt: at }).where(and(scope, isNull(refreshTokens.revokedAt)));
}

/**
 * Applies one revocation event: blacklists the refresh tokens of the sessions it covers,
 * publishes the session ids to every verifier, writes the audit row and marks the event applied.
 * Every step is idempotent and `appliedAt` is set last, so a redelivery (retry, a worker killed
 * mid-job) finishes the work and a delivery after that changes nothing.
 */
export async function applyRevocationEvent(db: Database, event: RevocationEvent, options: ApplyOptions): Promise<ApplyResult> {
  const now = options.now ?? Date.now;
  const [outbox] = await db.select({ appliedAt: outboxEvents.appliedAt }).from(outboxEvents).where(eq(outboxEvents.id, event.eventId));
  if (outbox?.appliedAt) return { alreadyApplied: true, sessionIds: [] };

  const sessionIds = await db.transaction(async (tx) => {
    const ids = await coveredSessions(tx, event);
    await blacklistRefreshTokens(tx, event, new Date(event.at));
    return ids;
  });
  await options.publish(sessionIds, event.at + options.accessTokenTtlMs + REVOCATION_SLACK_MS);

  const appliedAt = new Date(now());
  await db.transaction(async (tx) => {
    await tx
      .insert(auditLog)
      .values({
        eventId: event.eventId,
        type: event.type,
        actorType: event.actor.type,
        actorId: event.actor.id,
        userId: event.userId,
        sessionId: event.type === "user.revoked" ? null : event.sessionId,
        reason: event.reason,
        sessionsRevoked: sessionIds.length,
        occurredAt: new Date(event.at),
        appliedAt,
      })
      .onConflictDoNothing({ target: auditLog.eventId });
    await tx
      .update(outboxEvents)
      .set({ appliedAt, lastError: null })
      .where(and(eq(outboxEvents.id, event.eventId), isNull(outboxEvents.appliedAt)));
  });
  return { alreadyApplied: false, sessionIds };
}

/** Records a failed attempt on the event's outbox row, so operators see why it is not applied. */
export async function noteApplyFailure(db: Database, eventId: string, message: string): Promise<void> {
  await db
    .update(outboxEvents)
    .set({ lastError: message.slice(0, 500) })
    .where(eq(outboxEvents.id, eventId));
}
