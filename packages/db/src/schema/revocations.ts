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
  ],
);

/** What happened, by whom, and when it took effect. One row per applied event. */
export const auditLog = pgTable(
  "audit_log",
  {
    id: bigserial({ mode: "number" }).primaryKey(),
    eventId: uuid().notNull().unique(),
    type: text().notNull(),
    actorType: text().notNull(),
    actorId: uuid(),
    userId: uuid(),
    sessionId: uuid(),
    reason: text().notNull(),
    sessionsRevoked: integer().notNull().default(0),
    occurredAt: timestamp({ withTimezone: true }).notNull(),
    appliedAt: timestamp({ withTimezone: true }).notNull(),
  },
  (t) => [index().on(t.userId)],
);

export type OutboxEventRow = typeof outboxEvents.$inferSelect;
export type AuditRow = typeof auditLog.$inferSelect;
