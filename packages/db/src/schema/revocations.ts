import { sql } from "drizzle-orm";
import { bigserial, index, integer, jsonb, pgTable, text, timestamp, uuid } from "drizzle-orm/pg-core";

/**
 * Transactional outbox: a revoking state change and its event commit together, and a relay
 * publishes unpublished rows to the queue (jobId = id), so no event is lost while Redis is down.
 */
export const outboxEvents = pgTable(
  "outbox_events",
  {
    id: uuid().primaryKey(),
    type: text().notNull(),
    payload: jsonb().notNull(),
    createdAt: timestamp({ withTimezone: true }).notNull(),
    publishedAt: timestamp({ withTimezone: true }),
    appliedAt: timestamp({ withTimezone: true }),
    /** Times handed to the queue: the publish, and again when the queue had lost the job (at most MAX_PUBLISHES). */
    attempts: integer().notNull().default(0),
    lastError: text(),
    /**
     * Order of creation. The revocation feed carries the highest applied `seq` as its high-water
     * mark: a feed behind PostgreSQL lost writes and is rebuilt.
     */
    seq: bigserial({ mode: "number" }).notNull(),
    /**
     * Where the request that made the event came from. Personal data, so never in the payload (job
     * data stays in Redis for a day and cannot be erased): the worker copies it into the audit row
     * and clears it here once the event is applied.
     */
    ip: text(),
    userAgent: text(),
  },
  (t) => [
    index("outbox_events_unpublished_idx")
      .on(t.createdAt)
      .where(sql`${t.publishedAt} is null`),
    index("outbox_events_applied_seq_idx")
      .on(t.seq)
      .where(sql`${t.appliedAt} is not null`),
    // The relay's sweep for published events whose job the queue lost: only the unapplied few.
    index("outbox_events_unapplied_idx")
      .on(t.id)
      .where(sql`${t.appliedAt} is null and ${t.publishedAt} is not null`),
    // The few rows still holding an address or a user agent (not yet applied): what a deletion erases.
    index("outbox_events_client_idx")
      .on(t.id)
      .where(sql`${t.ip} is not null or ${t.userAgent} is not null`),
  ],
);

/**
 * What happened, to whom, by whom, from where, and when it took effect: one row per applied outbox
 * event, and one per login attempt (written by the auth server, no event behind it).
 */
export const auditLog = pgTable(
  "audit_log",
  {
    id: bigserial({ mode: "number" }).primaryKey(),
    /** The applied outbox event; null for a login attempt. */
    eventId: uuid().unique(),
    /** One of AUDIT_TYPES (@warden/contracts). */
    type: text().notNull(),
    actorType: text().notNull(),
    actorId: uuid(),
    /** The account it is about. */
    userId: uuid(),
    sessionId: uuid(),
    reason: text().notNull(),
    sessionsRevoked: integer().notNull().default(0),
    occurredAt: timestamp({ withTimezone: true }).notNull(),
    appliedAt: timestamp({ withTimezone: true }).notNull(),
    /** Where the request came from; erased with the account (see deleteUser). */
    ip: text(),
    userAgent: text(),
  },
  (t) => [
    // admin.audit pages newest first (by id) within a user or a type.
    index().on(t.userId, t.id),
    index().on(t.type, t.id),
    // Time ranges, and pruning beyond RETENTION.
    index().on(t.occurredAt),
    // What an admin did to others: found by admin.audit's user filter and by a deletion's erasure.
    index("audit_log_admin_actor_idx")
      .on(t.actorId)
      .where(sql`${t.actorType} = 'admin'`),
  ],
);

export type OutboxEventRow = typeof outboxEvents.$inferSelect;
export type AuditRow = typeof auditLog.$inferSelect;
