import {
  auditTypeOf,
  type AdminAuditInput,
  type AuditActorType,
  type AuditEntry,
  type AuditType,
  type ErrorReason,
  type RevocationEvent,
} from "@warden/contracts";
import { auditLog, users, type Database } from "@warden/db";
import { aliasedTable, and, desc, eq, gte, lt, or, sql, type SQL } from "drizzle-orm";
import type { Auth } from "./context.js";
import { AuthError } from "./errors.js";
import { readPage, type Page } from "./pages.js";
import { clientColumns, type ClientInfo, type DbOrTx } from "./sessions.js";

/** The audit row of an applied event: generic, so an event type added later is audited as it is. */
export function auditRowOf(
  event: RevocationEvent,
  applied: { sessionsRevoked: number; appliedAt: Date; ip: string | null; userAgent: string | null },
): typeof auditLog.$inferInsert {
  return {
    eventId: event.eventId,
    type: auditTypeOf(event),
    actorType: event.actor.type,
    actorId: event.actor.id,
    userId: "userId" in event ? event.userId : null,
    // The one session it is about; a user-wide event names none (sessionsRevoked counts them).
    sessionId: "sessionId" in event ? event.sessionId : null,
    reason: event.reason,
    sessionsRevoked: applied.sessionsRevoked,
    occurredAt: new Date(event.at),
    appliedAt: applied.appliedAt,
    ip: applied.ip,
    userAgent: applied.userAgent,
  };
}

/** The audit row of a login that opened a session (written by the statement that opens it). */
export const LOGIN_SUCCEEDED = { type: "login.succeeded", reason: "signed in" } as const satisfies {
  type: AuditType;
  reason: string;
};

/** Refusals of a login worth an audit row, and how the row names them. */
const LOGIN_REFUSALS: Partial<Record<ErrorReason, { type: AuditType; reason: string }>> = {
  INVALID_CREDENTIALS: { type: "login.failed", reason: "wrong password" },
  ACCOUNT_LOCKED: { type: "login.refused", reason: "account locked" },
  EMAIL_UNVERIFIED: { type: "login.refused", reason: "email unverified" },
};

/**
 * A refused login, in one statement whether or not the email has an account (the same work on
 * both paths). The typed email is never stored (it may be someone else's address, or a password
 * typed in the wrong field): the row names the account the email belongs to, if any. The account
 * is read FOR SHARE, so a deletion committing meanwhile either waits for this row (and erases its
 * address) or has already replaced the email (and the row names no one).
 */
export async function recordLoginRefusal(
  auth: Auth,
  attempt: { email: string; refusal: ErrorReason; client: ClientInfo },
): Promise<void> {
  const refusal = LOGIN_REFUSALS[attempt.refusal];
  if (!refusal) return;
  const at = new Date(auth.clock()).toISOString();
  const { ip, userAgent } = clientColumns(attempt.client);
  await auth.db.execute(sql`
    insert into ${auditLog} (type, actor_type, user_id, reason, occurred_at, applied_at, ip, user_agent)
    select ${refusal.type}, 'anonymous', target.id,
      case when target.id is null then 'unknown email' else ${refusal.reason} end,
      ${at}::timestamptz, ${at}::timestamptz, ${ip}, ${userAgent}
    from (select (select ${users.id} from ${users} where ${users.email} = ${attempt.email} for share) as id) target`);
}

/** Audit rows about the user or made by them as an admin (the rows a deletion erases the addresses of). */
function concerning(userId: string): SQL | undefined {
  return or(eq(auditLog.userId, userId), and(eq(auditLog.actorType, "admin"), eq(auditLog.actorId, userId)));
}

/**
 * Erases where the user's requests came from in the audit, in the caller's (deletion's)
 * transaction: rows about the user, except those an admin made (that address is the admin's, and
 * says who deleted the account), and rows the user made as an admin. One statement that returns
 * nothing: an account with a long history does not bring its rows' ids into memory.
 */
export async function eraseAuditClients(tx: DbOrTx, userId: string): Promise<void> {
  await tx
    .update(auditLog)
    .set({ ip: null, userAgent: null })
    .where(
      and(
        or(
          and(eq(auditLog.userId, userId), sql`${auditLog.actorType} <> 'admin'`),
          and(eq(auditLog.actorType, "admin"), eq(auditLog.actorId, userId)),
        ),
        or(sql`${auditLog.ip} is not null`, sql`${auditLog.userAgent} is not null`),
      ),
    );
}

/** Deletes audit rows that occurred before `cutoff` (maintenance, RETENTION). */
export async function pruneAudit(db: Database, cutoff: Date): Promise<number> {
  const rows = await db.delete(auditLog).where(lt(auditLog.occurredAt, cutoff)).returning({ id: auditLog.id });
  return rows.length;
}

const subject = aliasedTable(users, "subject");
const actorUser = aliasedTable(users, "actor_user");

/**
 * The audit log, newest first (by id: the order rows were written), filtered by user (about them
 * or made by them as an admin), type and time range [from, to). `cursor` is the last id of the
 * previous page. Emails are read now, not stored: a deleted account shows none.
 */
export async function listAudit(auth: Auth, input: NonNullable<AdminAuditInput>): Promise<Page<AuditEntry>> {
  if (input.userId !== undefined) {
    const [known] = await auth.db.select({ id: users.id }).from(users).where(eq(users.id, input.userId));
    if (!known) throw new AuthError("NOT_FOUND", "no such user");
  }
  return readPage(
    input.limit,
    (rows) =>
      auth.db
        .select({
          id: auditLog.id,
          eventId: auditLog.eventId,
          type: auditLog.type,
          actorType: auditLog.actorType,
          actorId: auditLog.actorId,
          actorEmail: actorUser.email,
          actorDeletedAt: actorUser.deletedAt,
          userId: auditLog.userId,
          userEmail: subject.email,
          userDeletedAt: subject.deletedAt,
          sessionId: auditLog.sessionId,
          sessionsRevoked: auditLog.sessionsRevoked,
          reason: auditLog.reason,
          ip: auditLog.ip,
          userAgent: auditLog.userAgent,
          occurredAt: auditLog.occurredAt,
          appliedAt: auditLog.appliedAt,
        })
        .from(auditLog)
        .leftJoin(subject, eq(subject.id, auditLog.userId))
        .leftJoin(actorUser, eq(actorUser.id, auditLog.actorId))
        .where(
          and(
            // Compared as a bigint in SQL: Number() would round ids past 2^53 and overflow near 2^63.
            input.cursor === undefined ? undefined : lt(auditLog.id, sql`${input.cursor}::bigint`),
            input.userId === undefined ? undefined : concerning(input.userId),
            input.type === undefined ? undefined : eq(auditLog.type, input.type),
            input.from === undefined ? undefined : gte(auditLog.occurredAt, new Date(input.from)),
            input.to === undefined ? undefined : lt(auditLog.occurredAt, new Date(input.to)),
          ),
        )
        .orderBy(desc(auditLog.id))
        .limit(rows),
    toAuditEntry,
  );
}

function toAuditEntry(r: {
  id: number;
  eventId: string | null;
  type: string;
  actorType: string;
  actorId: string | null;
  actorEmail: string | null;
  actorDeletedAt: Date | null;
  userId: string | null;
  userEmail: string | null;
  userDeletedAt: Date | null;
  sessionId: string | null;
  sessionsRevoked: number;
  reason: string;
  ip: string | null;
  userAgent: string | null;
  occurredAt: Date;
  appliedAt: Date;
}): AuditEntry {
  return {
    id: String(r.id),
    eventId: r.eventId,
    type: r.type as AuditType,
    occurredAt: r.occurredAt.getTime(),
    appliedAt: r.appliedAt.getTime(),
    actor: { type: r.actorType as AuditActorType, id: r.actorId, email: r.actorDeletedAt ? null : r.actorEmail },
    user:
      r.userId === null ? null : { id: r.userId, email: r.userDeletedAt ? null : r.userEmail, deleted: r.userDeletedAt !== null },
    userId: r.userId,
    sessionId: r.sessionId,
    sessionsRevoked: r.sessionsRevoked,
    ip: r.ip,
    userAgent: r.userAgent,
    reason: r.reason,
  };
}
