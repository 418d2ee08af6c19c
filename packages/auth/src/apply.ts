import { notBeforeOf, type EmailJob, type RevocationEvent as QueuedEvent } from "@warden/contracts";
import { auditLog, outboxEvents, refreshTokens, sessions, type Database } from "@warden/db";
import { and, eq, isNull, sql } from "drizzle-orm";
import { auditRowOf } from "./audit.js";
import { REVOCATION_SLACK_MS } from "./context.js";
import { coveredSessions, isNotice, isUserWide, type Notice, type SessionEndingEvent } from "./event-kinds.js";
import type { DbOrTx } from "./sessions.js";

export interface ApplyOptions {
  /** Sends the revoked session ids to every verifier (idempotent: `publishRevocations`). */
  publish: (sessionIds: string[], until: number) => Promise<void>;
  /** Sends a user's not-before to every verifier (idempotent: `publishNotBefore`). */
  publishNotBefore: (userId: string, notBefore: number, until: number) => Promise<void>;
  /**
   * Raises the feed's high-water mark to the event's outbox `seq` once it is published
   * (`advanceFeedHighWaterMark`), before `applied_at` is set: the feed keeper compares the two.
   */
  advanceFeed?: (seq: number) => Promise<void>;
  /** Access-token lifetime: feed entries must outlive the last token of a revoked session. */
  accessTokenTtlMs: number;
  /** Tells every instance a user changed (`publishUserChanged`): a verified email shows at once everywhere. */
  publishUserChanged?: (userId: string) => Promise<void>;
  /** Hands an email to the email queue (idempotent: jobId = eventId). Needed for `email.requested`. */
  queueEmail?: (job: EmailJob) => Promise<void>;
  /**
   * Creates the event's webhook deliveries and queues them (idempotent: one delivery per webhook and
   * event, jobId = delivery id). Runs once the event's effects are published, before `applied_at`.
   */
  queueWebhooks?: (event: QueuedEvent) => Promise<void>;
  now?: () => number;
}

export interface ApplyResult {
  /** True when the event had been applied before: nothing changed. */
  alreadyApplied: boolean;
  sessionIds: string[];
}

/** Kills every refresh token of the sessions (a subquery, so 100k sessions are one statement). */
async function blacklistRefreshTokens(tx: DbOrTx, event: SessionEndingEvent, at: Date): Promise<void> {
  const scope = isUserWide(event)
    ? sql`${refreshTokens.sessionId} in (select ${sessions.id} from ${sessions} where ${sessions.revokedEventId} = ${event.eventId})`
    : eq(refreshTokens.sessionId, event.sessionId);
  await tx
    .update(refreshTokens)
    .set({ revokedAt: at })
    .where(and(scope, isNull(refreshTokens.revokedAt)));
}

/** Publishes the user's not-before an event sets (a role change, a lock), durably behind the fast path. */
async function publishEventNotBefore(event: QueuedEvent, options: ApplyOptions): Promise<void> {
  const user = notBeforeOf(event);
  if (!user) return;
  await options.publishNotBefore(user.userId, user.notBefore, user.notBefore + options.accessTokenTtlMs + REVOCATION_SLACK_MS);
}

/** The event's outbox row: whether it is applied, and its `seq` (undefined when the row is gone). */
async function outboxState(db: Database, eventId: string): Promise<{ applied: boolean; seq: number | undefined }> {
  const [outbox] = await db
    .select({ appliedAt: outboxEvents.appliedAt, seq: outboxEvents.seq })
    .from(outboxEvents)
    .where(eq(outboxEvents.id, eventId));
  return { applied: Boolean(outbox?.appliedAt), seq: outbox?.seq };
}

async function advanceFeed(seq: number | undefined, options: ApplyOptions): Promise<void> {
  if (seq !== undefined) await options.advanceFeed?.(seq);
}

/**
 * The audit row (once per event) and `appliedAt`, in one transaction, last. The request's address
 * and user agent move from the outbox row to the audit row: the outbox row is read FOR UPDATE, so
 * a deletion erasing them meanwhile either waits for this transaction (and then erases the audit
 * row) or has cleared them before they are read.
 */
async function markApplied(db: Database, event: QueuedEvent, sessionsRevoked: number, appliedAt: Date): Promise<void> {
  await db.transaction(async (tx) => {
    const [client] = await tx
      .select({ ip: outboxEvents.ip, userAgent: outboxEvents.userAgent })
      .from(outboxEvents)
      .where(eq(outboxEvents.id, event.eventId))
      .for("update");
    await tx
      .insert(auditLog)
      .values(auditRowOf(event, { sessionsRevoked, appliedAt, ip: client?.ip ?? null, userAgent: client?.userAgent ?? null }))
      .onConflictDoNothing({ target: auditLog.eventId });
    await tx
      .update(outboxEvents)
      .set({ appliedAt, lastError: null, ip: null, userAgent: null })
      .where(and(eq(outboxEvents.id, event.eventId), isNull(outboxEvents.appliedAt)));
  });
}

/**
 * An event that ends no session. A role change: the producer committed the role and the user's
 * not-before; what is left is to publish the not-before to every verifier. An email: it goes to
 * the email queue (nothing when the request named no account). Any other (a signup, an unlock, a
 * verified email) is recorded only. Then the audit row, and applied.
 */
async function applyNotice(db: Database, event: Notice, options: ApplyOptions): Promise<ApplyResult> {
  const now = options.now ?? Date.now;
  const state = await outboxState(db, event.eventId);
  if (state.applied) return { alreadyApplied: true, sessionIds: [] };
  await publishEventNotBefore(event, options);
  if (event.type === "email.verified") await options.publishUserChanged?.(event.userId);
  if (event.type === "email.requested" && event.userId) {
    if (!options.queueEmail) throw new Error("an email event reached a worker without an email queue");
    await options.queueEmail({ eventId: event.eventId, kind: event.kind, userId: event.userId });
  }
  await options.queueWebhooks?.(event);
  await advanceFeed(state.seq, options);
  await markApplied(db, event, 0, new Date(now()));
  return { alreadyApplied: false, sessionIds: [] };
}

/**
 * Applies one revocation event: blacklists the refresh tokens of the sessions it covers,
 * publishes the session ids (and a lock's not-before) to every verifier, writes the audit row and
 * marks the event applied. Every step is idempotent and `appliedAt` is set last, so a redelivery
 * (retry, a worker killed mid-job) finishes the work and a delivery after that changes nothing.
 */
export async function applyRevocationEvent(db: Database, event: QueuedEvent, options: ApplyOptions): Promise<ApplyResult> {
  if (isNotice(event)) return applyNotice(db, event, options);
  const now = options.now ?? Date.now;
  const state = await outboxState(db, event.eventId);
  if (state.applied) return { alreadyApplied: true, sessionIds: [] };

  const sessionIds = await db.transaction(async (tx) => {
    const ids = await coveredSessions(tx, event);
    await blacklistRefreshTokens(tx, event, new Date(event.at));
    return ids;
  });
  await options.publish(sessionIds, event.at + options.accessTokenTtlMs + REVOCATION_SLACK_MS);
  await publishEventNotBefore(event, options);
  await options.queueWebhooks?.(event);
  await advanceFeed(state.seq, options);

  await markApplied(db, event, sessionIds.length, new Date(now()));
  return { alreadyApplied: false, sessionIds };
}

/** Records a failed attempt on the event's outbox row, so operators see why it is not applied. */
export async function noteApplyFailure(db: Database, eventId: string, message: string): Promise<void> {
  await db
    .update(outboxEvents)
    .set({ lastError: message.slice(0, 500) })
    .where(eq(outboxEvents.id, eventId));
}
