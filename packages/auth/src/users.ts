import type { Actor, AuthResult, CredentialsInput, PublicUser, Role, VerificationRequired } from "@warden/contracts";
import { perDatabase, users } from "@warden/db";
import { eq, sql } from "drizzle-orm";
import type { Auth } from "./context.js";
import { AuthError, failureSummary } from "./errors.js";
import { hashPassword, verifyAgainstDummy, verifyPassword } from "./passwords.js";
import { queueEmail } from "./account.js";
import { LOGIN_SUCCEEDED, recordLoginRefusal } from "./audit.js";
import { announceRevocation, markSessionsRevoked, recordRevocationEvent } from "./revoke.js";
import { createSession, type ClientInfo } from "./sessions.js";

const UNIQUE_VIOLATION = "23505";

function isUniqueViolation(error: unknown): boolean {
  for (let e: unknown = error; e && typeof e === "object"; e = (e as { cause?: unknown }).cause) {
    if ((e as { code?: unknown }).code === UNIQUE_VIOLATION) return true;
  }
  return false;
}

/** The columns behind PublicUser, for `select` and `returning`. */
export const publicUserColumns = {
  id: users.id,
  email: users.email,
  role: users.role,
  emailVerifiedAt: users.emailVerifiedAt,
  lockedAt: users.lockedAt,
  createdAt: users.createdAt,
};

/** The user as every output shows it. */
export function toPublicUser(row: {
  id: string;
  email: string;
  role: Role;
  emailVerifiedAt: Date | null;
  lockedAt: Date | null;
  createdAt: Date;
}): PublicUser {
  return {
    id: row.id,
    email: row.email,
    role: row.role,
    emailVerified: row.emailVerifiedAt !== null,
    locked: row.lockedAt !== null,
    createdAt: row.createdAt.getTime(),
  };
}

/** Signup where a session is expected (REQUIRE_VERIFIED_EMAIL off): tests, tools. */
export async function signup(auth: Auth, input: CredentialsInput, client: ClientInfo): Promise<AuthResult> {
  const result = await createAccount(auth, input, client);
  if ("verificationRequired" in result) throw new Error("REQUIRE_VERIFIED_EMAIL is on: signup opens no session (createAccount)");
  return result;
}

/**
 * Creates an account (with its `user.signed_up` event), queues its verification email and signs it
 * in (with REQUIRE_VERIFIED_EMAIL, no session: the account waits for its link). Input is already
 * validated and the email canonical.
 */
export async function createAccount(
  auth: Auth,
  input: CredentialsInput,
  client: ClientInfo,
): Promise<AuthResult | VerificationRequired> {
  const passwordHash = await hashPassword(input.password);
  const at = auth.clock();
  try {
    const { result, events } = await auth.db.transaction(async (tx) => {
      const [row] = await tx
        .insert(users)
        .values({ email: input.email, passwordHash, createdAt: new Date(at) })
        .returning(publicUserColumns);
      if (!row) throw new Error("insert returned no row");
      const user = toPublicUser(row);
      const actor = { type: "user", id: user.id } as const;
      const signedUp = await recordRevocationEvent(
        tx,
        { type: "user.signed_up", userId: user.id, reason: "signed up", actor },
        at,
        {
          client,
        },
      );
      const email = await queueEmail(auth, tx, "email_verification", user.id, actor, at, client);
      const events = [signedUp, email];
      if (auth.settings.requireVerifiedEmail) return { events, result: { user, verificationRequired: true as const } };
      const pair = await createSession(auth, tx, user, { ...client, deviceName: input.deviceName });
      return { events, result: pair };
    });
    for (const event of events) auth.afterRevocation(event, []);
    return result;
  } catch (error) {
    if (isUniqueViolation(error)) throw new AuthError("EMAIL_TAKEN", "an account with this email exists");
    throw error;
  }
}

/** The account behind an email, for the password check (prepared: every login runs it). */
const credentialsQuery = perDatabase((db) =>
  db
    .select({ id: users.id, passwordHash: users.passwordHash, lockedAt: users.lockedAt, emailVerifiedAt: users.emailVerifiedAt })
    .from(users)
    .where(eq(users.email, sql.placeholder("email")))
    .prepare("credentials"),
);

/**
 * Checks the password and starts a session. An unknown email costs the same argon2 work as a
 * wrong password and gets the same answer; the lock (and, with REQUIRE_VERIFIED_EMAIL, an
 * unverified email) is only disclosed to the password's owner. Every attempt leaves an audit row:
 * a success in the statement that opens the session, a refusal in one statement.
 */
export async function login(auth: Auth, input: CredentialsInput, client: ClientInfo): Promise<AuthResult> {
  try {
    return await checkPasswordAndStartSession(auth, input, client);
  } catch (error) {
    if (error instanceof AuthError) await auditLoginRefusal(auth, { email: input.email, refusal: error.reason, client });
    throw error;
  }
}

/**
 * The refusal's audit row. The caller is told of the refusal (INVALID_CREDENTIALS, ACCOUNT_LOCKED,
 * EMAIL_UNVERIFIED) whatever becomes of the row: a row that could not be written is logged, by
 * the refusal and the database's reason only (never the email or the password).
 */
async function auditLoginRefusal(auth: Auth, attempt: Parameters<typeof recordLoginRefusal>[1]): Promise<void> {
  try {
    await recordLoginRefusal(auth, attempt);
  } catch (error) {
    auth.logger.warn({ refusal: attempt.refusal, err: failureSummary(error) }, "a refused login could not be audited");
  }
}

async function checkPasswordAndStartSession(auth: Auth, input: CredentialsInput, client: ClientInfo): Promise<AuthResult> {
  const [user] = await credentialsQuery(auth.db).execute({ email: input.email });
  const ok = user ? await verifyPassword(user.passwordHash, input.password) : await verifyAgainstDummy(input.password);
  if (!user || !ok) throw new AuthError("INVALID_CREDENTIALS", "email or password is wrong");
  if (user.lockedAt) throw new AuthError("ACCOUNT_LOCKED", "this account is locked");
  if (auth.settings.requireVerifiedEmail && !user.emailVerifiedAt) {
    throw new AuthError("EMAIL_UNVERIFIED", "verify your email address first: the link is in your inbox");
  }
  await auth.hooks?.afterPasswordCheck?.();
  // The argon2 check ran outside any transaction, so a lock or a password change may have
  // committed since: createSession starts the session only if the account is still as the check
  // found it (it reads the user row FOR SHARE in the statement that inserts the session and the
  // login's audit row). A lock or revocation (which takes the row FOR UPDATE) that committed first
  // is seen there; one that comes later waits for the session and then revokes it with the others.
  return createSession(
    auth,
    auth.db,
    { id: user.id },
    { ...client, deviceName: input.deviceName },
    { passwordHash: user.passwordHash, audit: LOGIN_SUCCEEDED },
  );
}

export async function findUserRole(auth: Auth, userId: string): Promise<{ role: Role; locked: boolean } | undefined> {
  const [row] = await auth.db.select({ role: users.role, lockedAt: users.lockedAt }).from(users).where(eq(users.id, userId));
  return row && { role: row.role, locked: row.lockedAt !== null };
}

/** The reason an admin made by createAdmin signs up with, when its caller names none. */
const ADMIN_CREATED = "admin account created by the operator";

/**
 * Creates an admin account when the email is free (the bootstrap: WARDEN_ADMIN_*, `warden admin
 * create`), with its `user.signed_up` event (actor `system`, the reason saying how) in the same
 * transaction, so the account's creation is audited like a signup. An existing account is never
 * touched: whoever signed the address up first would otherwise inherit the role, and a restart
 * would undo a lock or a password change. Returns undefined when the email is taken (and writes
 * nothing). The email is canonical (emailSchema).
 */
export async function createAdmin(
  auth: Auth,
  email: string,
  password: string,
  reason: string = ADMIN_CREATED,
): Promise<PublicUser | undefined> {
  const passwordHash = await hashPassword(password);
  const at = auth.clock();
  const created = await auth.db.transaction(async (tx) => {
    const [row] = await tx
      .insert(users)
      // The operator chose the address: verified from the start.
      .values({ email, passwordHash, role: "admin", createdAt: new Date(at), emailVerifiedAt: new Date(at) })
      .onConflictDoNothing({ target: users.email })
      .returning(publicUserColumns);
    if (!row) return undefined;
    const user = toPublicUser(row);
    const event = await recordRevocationEvent(
      tx,
      { type: "user.signed_up", userId: user.id, reason, actor: { type: "system", id: null } },
      at,
    );
    return { user, event };
  });
  if (!created) return undefined;
  auth.afterRevocation(created.event, []);
  return created.user;
}

export interface PromoteToAdminInput {
  /** Canonical (emailSchema). */
  email: string;
  password: string;
  reason: string;
  actor: Actor;
}

/**
 * Makes an existing account admin with a password the operator chose. Every session it had is
 * revoked in the same transaction (one user.revoked event through the outbox), so whoever signed
 * the address up and kept a refresh token cannot renew it into an admin token; the role change is
 * a `user.role_changed` event with the user's not-before, as `admin.setRole` writes it (none when
 * the account was admin already). The lock state is left as it is. NOT_FOUND when there is no such
 * account.
 */
export async function promoteToAdmin(
  auth: Auth,
  input: PromoteToAdminInput,
): Promise<{ user: PublicUser; eventId: string; revokedSessions: number }> {
  const passwordHash = await hashPassword(input.password);
  const at = auth.clock();
  const result = await auth.db.transaction(async (tx) => {
    // Locks the user row first, as every revocation does, so the two queue instead of deadlocking.
    const [found] = await tx
      .select({ id: users.id, role: users.role })
      .from(users)
      .where(eq(users.email, input.email))
      .for("update");
    if (!found) throw new AuthError("NOT_FOUND", "no such user");
    const { reason, actor } = input;
    const event = await recordRevocationEvent(tx, { type: "user.revoked", userId: found.id, lock: false, reason, actor }, at);
    const ids = await markSessionsRevoked(tx, { userId: found.id }, event.eventId, input.reason, at);
    const alreadyAdmin = found.role === "admin";
    const [user] = await tx
      .update(users)
      .set({ role: "admin", passwordHash, ...(alreadyAdmin ? {} : { tokensNotBefore: new Date(at) }) })
      .where(eq(users.id, found.id))
      .returning(publicUserColumns);
    if (!user) throw new Error("update returned no row");
    const roleChanged = alreadyAdmin
      ? undefined
      : await recordRevocationEvent(tx, { type: "user.role_changed", userId: found.id, role: "admin", reason, actor }, at);
    return { user: toPublicUser(user), event, ids, roleChanged };
  });
  announceRevocation(auth, result.event, result.ids);
  if (result.roleChanged) announceRevocation(auth, result.roleChanged, []);
  return { user: result.user, eventId: result.event.eventId, revokedSessions: result.ids.length };
}
