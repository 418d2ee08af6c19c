import { randomUUID } from "node:crypto";
import type { Actor, ChangePasswordInput, EmailKind, ResetPasswordInput, RevocationEvent } from "@warden/contracts";
import { oneTimeTokens, outboxEvents, sessions, users } from "@warden/db";
import { and, eq, sql } from "drizzle-orm";
import type { Auth } from "./context.js";
import { AuthError } from "./errors.js";
import {
  consumeOneTimeToken,
  issueOneTimeToken,
  oneTimeTokenRow,
  PURPOSE_OF_EMAIL,
  voidOneTimeTokens,
} from "./one-time-tokens.js";
import { hashPassword, verifyPassword } from "./passwords.js";
import { announceRevocation, markSessionsRevoked, recordRevocationEvent } from "./revoke.js";
import { clientColumns, type ClientInfo, type DbOrTx } from "./sessions.js";
import { hashToken } from "./tokens.js";

const SYSTEM: Actor = { type: "system", id: null };
/** The reason an `email.requested` event records (the audit shows it). */
const EMAIL_REASON: Record<EmailKind, string> = {
  password_reset: "password reset email",
  email_verification: "verification email",
};

/**
 * Queues an email for the user in the caller's transaction: the token is issued (its hash stored,
 * replacing an older one of the same kind) and an `email.requested` event goes to the outbox; the
 * admin worker sends the email. Returns the event, for `auth.afterRevocation` once committed.
 */
export async function queueEmail(
  auth: Auth,
  tx: DbOrTx,
  kind: EmailKind,
  userId: string,
  actor: Actor,
  at: number,
  client?: ClientInfo,
): Promise<RevocationEvent> {
  const eventId = randomUUID();
  await issueOneTimeToken(tx, auth.oneTimeKeys[0], eventId, userId, PURPOSE_OF_EMAIL[kind], at);
  return recordRevocationEvent(tx, { type: "email.requested", kind, userId, reason: EMAIL_REASON[kind], actor }, at, {
    eventId,
    client,
  });
}

/**
 * Changes the password of a signed-in user who knows the current one. Every other session of the
 * user is revoked in the same transaction (one `password.changed` event naming the session kept)
 * and a pending reset link stops working. A wrong current password is INVALID_CREDENTIALS.
 */
export async function changePassword(
  auth: Auth,
  principal: { userId: string; sessionId: string },
  input: ChangePasswordInput,
  client?: ClientInfo,
): Promise<{ ok: true; revokedSessions: number }> {
  const [user] = await auth.db.select({ passwordHash: users.passwordHash }).from(users).where(eq(users.id, principal.userId));
  if (!user || !(await verifyPassword(user.passwordHash, input.currentPassword))) {
    throw new AuthError("INVALID_CREDENTIALS", "the current password is wrong");
  }
  const passwordHash = await hashPassword(input.newPassword);
  const at = auth.clock();
  const result = await auth.db.transaction(async (tx) => {
    // The user row first, as every revocation locks it: a racing login, lock or reset queues.
    const [locked] = await tx
      .select({ passwordHash: users.passwordHash, lockedAt: users.lockedAt })
      .from(users)
      .where(eq(users.id, principal.userId))
      .for("update");
    // Changed meanwhile (another change, a reset): the password just checked is no longer the account's.
    if (!locked || locked.passwordHash !== user.passwordHash) {
      throw new AuthError("INVALID_CREDENTIALS", "the current password is wrong");
    }
    if (locked.lockedAt) throw new AuthError("ACCOUNT_LOCKED", "this account is locked");
    const [kept] = await tx
      .select({ revokedAt: sessions.revokedAt })
      .from(sessions)
      .where(and(eq(sessions.id, principal.sessionId), eq(sessions.userId, principal.userId)))
      .for("update");
    if (!kept || kept.revokedAt) throw new AuthError("SESSION_REVOKED", "session revoked");
    await tx.update(users).set({ passwordHash }).where(eq(users.id, principal.userId));
    await voidOneTimeTokens(tx, principal.userId, "password_reset");
    const reason = "password changed";
    const event = await recordRevocationEvent(
      tx,
      {
        type: "password.changed",
        userId: principal.userId,
        keptSessionId: principal.sessionId,
        reason,
        actor: { type: "user", id: principal.userId },
      },
      at,
      { client },
    );
    const ids = await markSessionsRevoked(
      tx,
      { userId: principal.userId, exceptSessionId: principal.sessionId },
      event.eventId,
      reason,
      at,
    );
    return { event, ids };
  });
  announceRevocation(auth, result.event, result.ids);
  return { ok: true, revokedSessions: result.ids.length };
}

/**
 * Starts a password reset. Whether or not the address has an (unlocked) account, the same single
 * statement runs: it issues the token when there is one, and writes the same `email.requested`
 * event either way (its userId null when there is none, so the worker sends nothing). No password
 * is hashed on either path: the answer and its time say nothing about the address.
 */
export async function requestPasswordReset(auth: Auth, email: string, client?: ClientInfo): Promise<{ ok: true }> {
  const at = auth.clock();
  const eventId = randomUUID();
  const event: RevocationEvent = {
    type: "email.requested",
    kind: "password_reset",
    userId: null,
    reason: EMAIL_REASON.password_reset,
    actor: SYSTEM,
    eventId,
    at,
  };
  // The row for an account that does not exist is never written; its values are computed all the same.
  const token = oneTimeTokenRow(auth.oneTimeKeys[0], eventId, eventId, "password_reset", at);
  const created = new Date(at).toISOString();
  const { ip, userAgent } = clientColumns(client);
  await auth.db.execute(sql`
    with target as (
      select ${users.id} as id from ${users} where ${users.email} = ${email} and ${users.lockedAt} is null
    ), issued as (
      insert into ${oneTimeTokens} (user_id, purpose, token_hash, event_id, created_at, expires_at)
      select id, 'password_reset', ${token.tokenHash}, ${eventId}::uuid, ${created}::timestamptz,
        ${token.expiresAt.toISOString()}::timestamptz from target
      on conflict (user_id, purpose) do update set token_hash = excluded.token_hash, event_id = excluded.event_id,
        created_at = excluded.created_at, expires_at = excluded.expires_at
      returning user_id
    )
    insert into ${outboxEvents} (id, type, payload, created_at, ip, user_agent)
    select ${eventId}::uuid, 'email.requested',
      jsonb_set(${JSON.stringify(event)}::jsonb, '{userId}', coalesce((select to_jsonb(user_id) from issued), 'null'::jsonb)),
      ${created}::timestamptz, ${ip}, ${userAgent}`);
  auth.sessionCache.forgetUser(event.userId ?? "");
  auth.afterRevocation(event, []);
  return { ok: true };
}

/**
 * Sets a new password with a reset link's token: every session of the user is revoked (one
 * `password.reset` event) and the email counts as verified (the link reached the mailbox). The
 * token is used up. A locked account stays locked: ACCOUNT_LOCKED, the token kept.
 */
export async function resetPassword(
  auth: Auth,
  input: ResetPasswordInput,
  client?: ClientInfo,
): Promise<{ ok: true; revokedSessions: number }> {
  // An unknown token is refused before any argon2 work: guessing costs the server nothing.
  const [known] = await auth.db
    .select({ userId: oneTimeTokens.userId })
    .from(oneTimeTokens)
    .where(and(eq(oneTimeTokens.tokenHash, hashToken(input.token)), eq(oneTimeTokens.purpose, "password_reset")));
  if (!known) throw new AuthError("ONE_TIME_TOKEN_INVALID", "this link is unknown, used or expired: ask for a new one");
  const passwordHash = await hashPassword(input.newPassword);
  const at = auth.clock();
  const result = await auth.db.transaction(async (tx) => {
    const { userId } = await consumeOneTimeToken(tx, input.token, "password_reset", at);
    const [user] = await tx.select({ lockedAt: users.lockedAt }).from(users).where(eq(users.id, userId)).for("update");
    if (!user) throw new AuthError("ONE_TIME_TOKEN_INVALID", "this link is unknown, used or expired: ask for a new one");
    if (user.lockedAt) throw new AuthError("ACCOUNT_LOCKED", "this account is locked");
    await tx
      .update(users)
      .set({ passwordHash, emailVerifiedAt: sql`coalesce(${users.emailVerifiedAt}, ${new Date(at).toISOString()})` })
      .where(eq(users.id, userId));
    await voidOneTimeTokens(tx, userId, "email_verification");
    const reason = "password reset";
    const event = await recordRevocationEvent(
      tx,
      { type: "password.reset", userId, reason, actor: { type: "user", id: userId } },
      at,
      { client },
    );
    const ids = await markSessionsRevoked(tx, { userId }, event.eventId, reason, at);
    return { event, ids };
  });
  announceRevocation(auth, result.event, result.ids);
  return { ok: true, revokedSessions: result.ids.length };
}

/** Sends the signed-in user a new verification link (none when the email is verified already). */
export async function requestEmailVerification(auth: Auth, userId: string, client?: ClientInfo): Promise<{ ok: true }> {
  const at = auth.clock();
  const event = await auth.db.transaction(async (tx) => {
    const [user] = await tx
      .select({ emailVerifiedAt: users.emailVerifiedAt })
      .from(users)
      .where(eq(users.id, userId))
      .for("update");
    if (!user) throw new AuthError("NOT_FOUND", "no such user");
    if (user.emailVerifiedAt) return undefined;
    return queueEmail(auth, tx, "email_verification", userId, { type: "user", id: userId }, at, client);
  });
  if (event) auth.afterRevocation(event, []);
  return { ok: true };
}

/** Marks the email verified with a verification link's token (used up). */
export async function verifyEmail(auth: Auth, token: string, client?: ClientInfo): Promise<{ ok: true }> {
  const at = auth.clock();
  const { event, userId } = await auth.db.transaction(async (tx) => {
    const { userId } = await consumeOneTimeToken(tx, token, "email_verification", at);
    const [user] = await tx
      .update(users)
      .set({ emailVerifiedAt: sql`coalesce(${users.emailVerifiedAt}, ${new Date(at).toISOString()})` })
      .where(eq(users.id, userId))
      .returning({ id: users.id });
    if (!user) throw new AuthError("ONE_TIME_TOKEN_INVALID", "this link is unknown, used or expired: ask for a new one");
    const event = await recordRevocationEvent(
      tx,
      { type: "email.verified", userId, reason: "email verified", actor: { type: "user", id: userId } },
      at,
      { client },
    );
    return { event, userId };
  });
  auth.sessionCache.forgetUser(userId);
  auth.afterRevocation(event, []);
  return { ok: true };
}
