import { createHmac } from "node:crypto";
import type { EmailKind } from "@warden/contracts";
import { oneTimeTokens, users, type OneTimeTokenPurpose } from "@warden/db";
import { and, eq, sql } from "drizzle-orm";
import { AuthError } from "./errors.js";
import type { DbOrTx } from "./sessions.js";
import { hashToken } from "./tokens.js";

/** How long an emailed link works (SPEC: 30 min for a reset, 24 h for a verification). */
export const ONE_TIME_TOKEN_TTL_MS: Record<OneTimeTokenPurpose, number> = {
  password_reset: 30 * 60_000,
  email_verification: 24 * 3_600_000,
};

/** The email that carries each kind of token. */
export const PURPOSE_OF_EMAIL: Record<EmailKind, OneTimeTokenPurpose> = {
  password_reset: "password_reset",
  email_verification: "email_verification",
};

/**
 * The token an email carries: HMAC-SHA256(one-time key, event id), 256 bits, base64url (43
 * characters). Nothing stores it: the row keeps its SHA-256, the outbox and the job keep the event
 * id, and the worker rebuilds the link from the event id and the data key, so a retried job sends
 * the same link and no token sits in Redis, PostgreSQL or a log.
 */
export function deriveOneTimeToken(key: Buffer, eventId: string): string {
  return createHmac("sha256", key).update("warden-one-time-token\0").update(eventId).digest("base64url");
}

/**
 * The token of `eventId` when it is still the user's live token for the purpose (not used, not
 * replaced by a newer request, not expired): undefined otherwise. Tries every data key, current
 * first, so a key rotation between the request and the email breaks no link.
 */
export async function liveOneTimeToken(
  db: DbOrTx,
  keys: readonly Buffer[],
  job: { eventId: string; userId: string; purpose: OneTimeTokenPurpose },
  now: number,
): Promise<string | undefined> {
  const [row] = await db
    .select({ tokenHash: oneTimeTokens.tokenHash, expiresAt: oneTimeTokens.expiresAt })
    .from(oneTimeTokens)
    .where(
      and(eq(oneTimeTokens.userId, job.userId), eq(oneTimeTokens.purpose, job.purpose), eq(oneTimeTokens.eventId, job.eventId)),
    );
  if (!row || row.expiresAt.getTime() <= now) return undefined;
  for (const key of keys) {
    const token = deriveOneTimeToken(key, job.eventId);
    if (hashToken(token) === row.tokenHash) return token;
  }
  return undefined;
}

/** The row a token's issue writes (an upsert: a newer request replaces the older token). */
export function oneTimeTokenRow(key: Buffer, eventId: string, userId: string, purpose: OneTimeTokenPurpose, at: number) {
  return {
    userId,
    purpose,
    tokenHash: hashToken(deriveOneTimeToken(key, eventId)),
    eventId,
    createdAt: new Date(at),
    expiresAt: new Date(at + ONE_TIME_TOKEN_TTL_MS[purpose]),
  };
}

/** Issues the user's token for the purpose in the caller's transaction, replacing any older one. */
export async function issueOneTimeToken(
  tx: DbOrTx,
  key: Buffer,
  eventId: string,
  userId: string,
  purpose: OneTimeTokenPurpose,
  at: number,
): Promise<void> {
  const row = oneTimeTokenRow(key, eventId, userId, purpose, at);
  await tx
    .insert(oneTimeTokens)
    .values(row)
    .onConflictDoUpdate({
      target: [oneTimeTokens.userId, oneTimeTokens.purpose],
      set: { tokenHash: row.tokenHash, eventId, createdAt: row.createdAt, expiresAt: row.expiresAt },
    });
}

/**
 * Uses a token up in the caller's transaction: the row is deleted whatever follows, so a token
 * works once (a second use finds nothing, a concurrent one waits on the row and then finds
 * nothing). Unknown, used or expired: ONE_TIME_TOKEN_INVALID. Returns the user it was issued to.
 */
export async function consumeOneTimeToken(
  tx: DbOrTx,
  token: string,
  purpose: OneTimeTokenPurpose,
  now: number,
): Promise<{ userId: string; createdAt: number }> {
  const [row] = await tx
    .delete(oneTimeTokens)
    .where(and(eq(oneTimeTokens.tokenHash, hashToken(token)), eq(oneTimeTokens.purpose, purpose)))
    .returning({ userId: oneTimeTokens.userId, createdAt: oneTimeTokens.createdAt, expiresAt: oneTimeTokens.expiresAt });
  if (!row || row.expiresAt.getTime() <= now) {
    throw new AuthError("ONE_TIME_TOKEN_INVALID", "this link is unknown, used or expired: ask for a new one");
  }
  return { userId: row.userId, createdAt: row.createdAt.getTime() };
}

/** Voids the user's live token of a purpose (a password change voids a pending reset). */
export async function voidOneTimeTokens(tx: DbOrTx, userId: string, purpose: OneTimeTokenPurpose): Promise<void> {
  await tx.delete(oneTimeTokens).where(and(eq(oneTimeTokens.userId, userId), eq(oneTimeTokens.purpose, purpose)));
}

/** Deletes expired tokens (maintenance). */
export async function pruneOneTimeTokens(db: DbOrTx, now: number): Promise<number> {
  const rows = await db
    .delete(oneTimeTokens)
    .where(sql`${oneTimeTokens.expiresAt} <= ${new Date(now).toISOString()}`)
    .returning({ userId: oneTimeTokens.userId });
  return rows.length;
}

/** Where an email to the user goes, and whether it still applies (a reset: unlocked; a verification: unverified). */
export async function emailRecipient(
  db: DbOrTx,
  userId: string,
): Promise<{ email: string; locked: boolean; emailVerified: boolean } | undefined> {
  const [user] = await db
    .select({ email: users.email, lockedAt: users.lockedAt, emailVerifiedAt: users.emailVerifiedAt })
    .from(users)
    .where(eq(users.id, userId));
  return user && { email: user.email, locked: user.lockedAt !== null, emailVerified: user.emailVerifiedAt !== null };
}
