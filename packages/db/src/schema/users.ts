import { sql } from "drizzle-orm";
import { index, pgTable, text, timestamp, uuid } from "drizzle-orm/pg-core";

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
  },
  (t) => [
    // The revocation feed is rebuilt from the not-befores set within one access-token lifetime.
    index("users_tokens_not_before_idx")
      .on(t.tokensNotBefore)
      .where(sql`${t.tokensNotBefore} is not null`),
  ],
);

export type UserRow = typeof users.$inferSelect;
