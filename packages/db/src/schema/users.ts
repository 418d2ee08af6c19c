import { sql } from "drizzle-orm";
import { index, pgTable, primaryKey, text, timestamp, uuid } from "drizzle-orm/pg-core";

export const users = pgTable(
  "users",
  {
    id: uuid().primaryKey().defaultRandom(),
    /** Canonical form (trimmed, NFC, lower-case): uniqueness is on this column. */
    email: text().notNull().unique(),
    passwordHash: text().notNull(),
    role: text({ enum: ["user", "admin"] })
      .notNull()
      .default("user"),
    /** Set by an admin revocation with `lock`: the account cannot sign in while set. */
    lockedAt: timestamp({ withTimezone: true }),
    /**
     * Access tokens of this user issued before this instant are refused everywhere (a role change
     * or a lock): clients renew and get a token with the current role, or learn the account is locked.
     */
    tokensNotBefore: timestamp({ withTimezone: true }),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    /**
     * When the user proved the mailbox (a verification link, or a password reset sent to it).
     * Accounts made before email verification existed were marked verified by the migration.
     */
    emailVerifiedAt: timestamp({ withTimezone: true }),
    /**
     * When an admin deleted the account: the row stays (sessions and the audit point at it), with
     * its email replaced by a placeholder, the password unusable, locked, personal data erased.
     */
    deletedAt: timestamp({ withTimezone: true }),
  },
  (t) => [
    // admin.users.list pages newest first.
    index().on(t.createdAt, t.id),
    // The revocation feed is rebuilt from the not-befores set within one access-token lifetime.
    index("users_tokens_not_before_idx")
      .on(t.tokensNotBefore)
      .where(sql`${t.tokensNotBefore} is not null`),
  ],
);

export const ONE_TIME_TOKEN_PURPOSES = ["password_reset", "email_verification"] as const;
export type OneTimeTokenPurpose = (typeof ONE_TIME_TOKEN_PURPOSES)[number];

/**
 * Password-reset and email-verification tokens: at most one live token per user and purpose (a
 * newer request replaces the older), only its SHA-256 stored, deleted when used.
 */
export const oneTimeTokens = pgTable(
  "one_time_tokens",
  {
    userId: uuid()
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    purpose: text({ enum: ONE_TIME_TOKEN_PURPOSES }).notNull(),
    /** Hex SHA-256 of the token. */
    tokenHash: text().notNull().unique(),
    /** The outbox event that queued its email: the worker rebuilds the link from it. */
    eventId: uuid().notNull(),
    createdAt: timestamp({ withTimezone: true }).notNull(),
    expiresAt: timestamp({ withTimezone: true }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.userId, t.purpose] }), index().on(t.expiresAt)],
);

export type UserRow = typeof users.$inferSelect;
