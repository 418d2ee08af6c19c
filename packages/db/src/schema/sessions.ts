import { sql } from "drizzle-orm";
import { index, pgTable, text, timestamp, uuid } from "drizzle-orm/pg-core";
import { users } from "./users.js";

export const sessions = pgTable(
  "sessions",
  {
    id: uuid().primaryKey(),
    userId: uuid()
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    deviceName: text(),
    userAgent: text(),
    ip: text(),
    createdAt: timestamp({ withTimezone: true }).notNull(),
    lastSeenAt: timestamp({ withTimezone: true }).notNull(),
    /** Absolute limit (SESSION_MAX_AGE): no refresh succeeds after it, whatever the activity. */
    expiresAt: timestamp({ withTimezone: true }).notNull(),
    revokedAt: timestamp({ withTimezone: true }),
    revokedReason: text(),
    /** The outbox event that revoked it: lets the worker find every session an event covers. */
    revokedEventId: uuid(),
  },
  (t) => [
    index().on(t.userId),
    index().on(t.revokedEventId),
    // The revocation feed is rebuilt from the sessions revoked within one access-token lifetime.
    index("sessions_revoked_at_idx")
      .on(t.revokedAt)
      .where(sql`${t.revokedAt} is not null`),
  ],
);

export const refreshTokens = pgTable(
  "refresh_tokens",
  {
    id: uuid().primaryKey(),
    sessionId: uuid()
      .notNull()
      .references(() => sessions.id, { onDelete: "cascade" }),
    /** Hex SHA-256 of the token: the token itself is never stored. */
    tokenHash: text().notNull().unique(),
    parentId: uuid(),
    createdAt: timestamp({ withTimezone: true }).notNull(),
    /** Idle limit (REFRESH_TOKEN_TTL), capped by the session's absolute limit. */
    expiresAt: timestamp({ withTimezone: true }).notNull(),
    /** When this token was exchanged for its successor; set exactly once (compare-and-swap). */
    rotatedAt: timestamp({ withTimezone: true }),
    revokedAt: timestamp({ withTimezone: true }),
    /**
     * Random salt chosen when this token is rotated: the successor is HMAC(refresh key, salt,
     * token), so computing it takes this row as well as the token and every server key.
     */
    successorSalt: text(),
  },
  (t) => [index().on(t.sessionId), index().on(t.expiresAt)],
);

export type SessionRow = typeof sessions.$inferSelect;
export type RefreshTokenRow = typeof refreshTokens.$inferSelect;
