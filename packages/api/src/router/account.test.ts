import { randomUUID } from "node:crypto";
import { createAdmin, createAuth, deriveOneTimeToken, getCurrentSession, revokeUserSessions, type Auth } from "@warden/auth";
import { createTestAuth, createTestClock, TEST_AUDIENCE, TEST_ISSUER, type TestAuth } from "@warden/auth/testing";
import { createDb, oneTimeTokens, outboxEvents, users, type DbHandle } from "@warden/db";
import { and, eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createContextInner } from "../context.js";
import { createCaller } from "../root.js";
import { callerFor, reasonOf, signUp } from "../testing.js";

/**
 * The account lifecycle through the API (in process, real PostgreSQL): change and reset password,
 * email verification, REQUIRE_VERIFIED_EMAIL. The worker's side (the emails themselves) is in
 * apps/admin-worker/test/email.test.ts.
 */
const password = "correct horse battery";
const newPassword = "a brand new passphrase";
let t: TestAuth;
const clock = createTestClock(Date.now());

beforeAll(async () => {
  t = await createTestAuth({ clock });
});
afterAll(async () => {
  await t?.close();
});

const freshEmail = () => `account-${randomUUID()}@example.com`;

async function account(auth: Auth = t.auth) {
  const email = freshEmail();
  const first = await signUp(auth, { email, password });
  return { email, first, userId: first.user.id };
}

/** The events of a type the outbox holds for a user, oldest first. */
async function eventsOf(userId: string | null, type: string) {
  const rows = await t.database.db
    .select({ id: outboxEvents.id, payload: outboxEvents.payload })
    .from(outboxEvents)
    .where(
      and(
        eq(outboxEvents.type, type),
        userId === null
          ? sql`${outboxEvents.payload}->'userId' = 'null'::jsonb`
          : sql`${outboxEvents.payload}->>'userId' = ${userId}`,
      ),
    )
    .orderBy(outboxEvents.seq);
  return rows.map((r): Record<string, unknown> & { id: string } => ({ ...(r.payload as Record<string, unknown>), id: r.id }));
}

/** The token the latest email of a kind carries (what the worker rebuilds for the link). */
async function latestToken(userId: string, kind: "password_reset" | "email_verification", auth: Auth = t.auth) {
  const events = (await eventsOf(userId, "email.requested")).filter((e) => e.kind === kind);
  const last = events.at(-1);
  if (!last) throw new Error(`no ${kind} email for ${userId}`);
  return deriveOneTimeToken(auth.oneTimeKeys[0], last.id);
}

describe("auth.changePassword", () => {
  it("refuses a wrong current password with INVALID_CREDENTIALS and changes nothing", async () => {
    const { first, email } = await account();
    const caller = callerFor(t.auth, first.accessToken);
    expect(await reasonOf(caller.auth.changePassword({ currentPassword: "not the password", newPassword }))).toBe(
      "INVALID_CREDENTIALS",
    );
    expect((await callerFor(t.auth).auth.login({ email, password })).user.email).toBe(email);
  });

  it("re-hashes, keeps the caller's session, revokes every other one through one event, and voids a pending reset", async () => {
    const { first, email, userId } = await account();
    const other = await callerFor(t.auth).auth.login({ email, password });
    const third = await callerFor(t.auth).auth.login({ email, password });
    await callerFor(t.auth).auth.requestPasswordReset({ email });
    const resetToken = await latestToken(userId, "password_reset");

    const result = await callerFor(t.auth, first.accessToken).auth.changePassword({ currentPassword: password, newPassword });
    expect(result).toEqual({ ok: true, revokedSessions: 2 });

    // The caller goes on; the others are refused at once on this instance (access) and for good (refresh).
    expect((await callerFor(t.auth, first.accessToken).auth.me()).user.id).toBe(userId);
    expect(await reasonOf(callerFor(t.auth, other.accessToken).auth.me())).toBe("SESSION_REVOKED");
    expect(await reasonOf(callerFor(t.auth).auth.refresh({ refreshToken: third.refreshToken }))).toBe("REFRESH_TOKEN_REVOKED");
    expect((await callerFor(t.auth).auth.refresh({ refreshToken: first.refreshToken })).sessionId).toBe(first.sessionId);

    const [event, ...more] = await eventsOf(userId, "password.changed");
    expect(more).toHaveLength(0);
    expect(event).toMatchObject({ keptSessionId: first.sessionId, actor: { type: "user", id: userId } });
    // The old password is gone, the new one works, the reset link is void.
    expect(await reasonOf(callerFor(t.auth).auth.login({ email, password }))).toBe("INVALID_CREDENTIALS");
    expect((await callerFor(t.auth).auth.login({ email, password: newPassword })).user.id).toBe(userId);
    expect(await reasonOf(callerFor(t.auth).auth.resetPassword({ token: resetToken, newPassword: password }))).toBe(
      "ONE_TIME_TOKEN_INVALID",
    );
  });

  it("is rate limited like login", async () => {
    const { first } = await account();
    const consumed: string[] = [];
    const limited = createCallerWithLimiter(t.auth, first.accessToken, (bucket) => consumed.push(bucket));
    await limited.auth.changePassword({ currentPassword: password, newPassword }).catch(() => {});
    expect(consumed).toEqual(["login", "loginAccount"]);
  });
});

function createCallerWithLimiter(
  auth: Auth,
  accessToken: string | undefined,
  onConsume: (bucket: string, subject: { ip: string | undefined; email?: string }) => void,
) {
  return createCaller(
    createContextInner({
      auth,
      rateLimiter: {
        async consume(bucket, subject) {
          onConsume(bucket, subject);
        },
      },
      req: { ip: "127.0.0.1", ...(accessToken ? { authorization: `Bearer ${accessToken}` } : {}) },
    }),
  );
}

describe("auth.requestPasswordReset", () => {
  it("is rate limited per address and per email; link uses and verification emails have budgets too", async () => {
    const { email, first } = await account();
    const consumed: unknown[] = [];
    const record = (bucket: string, subject: { ip: string | undefined; email?: string }) => consumed.push([bucket, subject]);
    await createCallerWithLimiter(t.auth, undefined, record).auth.requestPasswordReset({ email });
    expect(consumed).toEqual([
      ["passwordReset", { ip: "127.0.0.1" }],
      ["passwordResetEmail", { ip: undefined, email }],
    ]);
    consumed.length = 0;
    const token = Buffer.alloc(32, 1).toString("base64url");
    await createCallerWithLimiter(t.auth, undefined, record)
      .auth.resetPassword({ token, newPassword })
      .catch(() => {});
    await createCallerWithLimiter(t.auth, undefined, record)
      .auth.verifyEmail({ token })
      .catch(() => {});
    await createCallerWithLimiter(t.auth, first.accessToken, record).auth.requestEmailVerification({});
    expect(consumed.map((c) => (c as [string])[0])).toEqual(["passwordReset", "passwordReset", "emailVerification"]);
  });

  it("answers alike, with the same statements and one outbox write, for an account, a locked one and no account", async () => {
    const statements: string[] = [];
    let watched: DbHandle | undefined;
    try {
      watched = createDb(t.database.url, { max: 1, debug: (_c, query) => statements.push(query.replace(/\s+/g, " ").trim()) });
      const auth = createAuth({ db: watched.db, keys: t.auth.keys, settings: { issuer: TEST_ISSUER, audience: TEST_AUDIENCE } });
      const { email } = await account();
      const locked = await account();
      await revokeUserSessions(t.auth, {
        userId: locked.userId,
        reason: "test",
        actor: { type: "system", id: null },
        lock: true,
      });
      const run = async (address: string) => {
        statements.length = 0;
        const answer = await callerFor(auth).auth.requestPasswordReset({ email: address });
        return { answer, statements: [...statements] };
      };
      await run(freshEmail()); // warms the connection (its first statement is a type lookup)
      const existing = await run(email);
      const lockedOne = await run(locked.email);
      const unknown = await run(freshEmail());
      expect(existing.answer).toEqual({ ok: true });
      expect(lockedOne.answer).toEqual(existing.answer);
      expect(unknown.answer).toEqual(existing.answer);
      expect(existing.statements).toHaveLength(1);
      expect(lockedOne.statements).toEqual(existing.statements);
      expect(unknown.statements).toEqual(existing.statements);
      console.log(`requestPasswordReset: ${existing.statements.length} statement on every path`);
    } finally {
      await watched?.close();
    }
    // One event per request either way; only the unlocked account got a token.
    const nobody = await eventsOf(null, "email.requested");
    expect(nobody.length).toBeGreaterThanOrEqual(3);
  });

  it("issues a single-use token of 256 bits, only its hash stored; a newer request replaces the older", async () => {
    const { email, userId } = await account();
    await callerFor(t.auth).auth.requestPasswordReset({ email });
    const older = await latestToken(userId, "password_reset");
    await callerFor(t.auth).auth.requestPasswordReset({ email });
    const newer = await latestToken(userId, "password_reset");
    expect(newer).not.toBe(older);
    expect(Buffer.from(newer, "base64url")).toHaveLength(32);
    const rows = await t.database.db.select().from(oneTimeTokens).where(eq(oneTimeTokens.userId, userId));
    expect(rows.filter((r) => r.purpose === "password_reset")).toHaveLength(1);
    expect(JSON.stringify(rows)).not.toContain(newer);
    expect(JSON.stringify(await eventsOf(userId, "email.requested"))).not.toContain(newer);

    expect(await reasonOf(callerFor(t.auth).auth.resetPassword({ token: older, newPassword }))).toBe("ONE_TIME_TOKEN_INVALID");
    expect(await callerFor(t.auth).auth.resetPassword({ token: newer, newPassword })).toEqual({ ok: true });
    expect(await reasonOf(callerFor(t.auth).auth.resetPassword({ token: newer, newPassword: password }))).toBe(
      "ONE_TIME_TOKEN_INVALID",
    );
  });
});

describe("auth.resetPassword", () => {
  it("sets the password, revokes every session with one event, and marks the email verified", async () => {
    const { email, first, userId } = await account();
    const second = await callerFor(t.auth).auth.login({ email, password });
    expect(first.user.emailVerified).toBe(false);
    await callerFor(t.auth).auth.requestPasswordReset({ email });
    const token = await latestToken(userId, "password_reset");
    expect(await callerFor(t.auth).auth.resetPassword({ token, newPassword })).toEqual({ ok: true });

    for (const s of [first, second]) {
      expect(await reasonOf(callerFor(t.auth, s.accessToken).auth.me())).toBe("SESSION_REVOKED");
      expect(await reasonOf(callerFor(t.auth).auth.refresh({ refreshToken: s.refreshToken }))).toBe("REFRESH_TOKEN_REVOKED");
    }
    expect(await eventsOf(userId, "password.reset")).toHaveLength(1);
    const signedIn = await callerFor(t.auth).auth.login({ email, password: newPassword });
    expect(signedIn.user.emailVerified).toBe(true);
    expect((await callerFor(t.auth, signedIn.accessToken).auth.me()).user.emailVerified).toBe(true);
  });

  it("refuses an expired token", async () => {
    const { email, userId } = await account();
    await callerFor(t.auth).auth.requestPasswordReset({ email });
    const token = await latestToken(userId, "password_reset");
    clock.advance(30 * 60_000 + 1);
    expect(await reasonOf(callerFor(t.auth).auth.resetPassword({ token, newPassword }))).toBe("ONE_TIME_TOKEN_INVALID");
    expect((await callerFor(t.auth).auth.login({ email, password })).user.id).toBe(userId);
  });

  it("sends no token to a locked account, and a token issued before a lock answers ACCOUNT_LOCKED", async () => {
    const { email, userId } = await account();
    await callerFor(t.auth).auth.requestPasswordReset({ email });
    const token = await latestToken(userId, "password_reset");
    await revokeUserSessions(t.auth, { userId, reason: "test", actor: { type: "system", id: null }, lock: true });
    expect(await reasonOf(callerFor(t.auth).auth.resetPassword({ token, newPassword }))).toBe("ACCOUNT_LOCKED");
    const [user] = await t.database.db.select().from(users).where(eq(users.id, userId));
    expect(user?.lockedAt).not.toBeNull();

    const before = (await eventsOf(userId, "email.requested")).length;
    expect(await callerFor(t.auth).auth.requestPasswordReset({ email })).toEqual({ ok: true });
    // The event exists (the same write as for anyone) but names nobody: no email, no token.
    expect((await eventsOf(userId, "email.requested")).length).toBe(before);
    const rows = await t.database.db.select().from(oneTimeTokens).where(eq(oneTimeTokens.userId, userId));
    expect(rows.filter((r) => r.purpose === "password_reset").map((r) => r.eventId)).toHaveLength(1);
  });
});

describe("email verification", () => {
  it("signup queues a verification email; verifyEmail marks the address verified, once", async () => {
    const { first, userId } = await account();
    expect(first.user).toMatchObject({ emailVerified: false, locked: false, role: "user" });
    expect(typeof first.user.createdAt).toBe("number");
    expect(await eventsOf(userId, "email.requested")).toHaveLength(1);
    const token = await latestToken(userId, "email_verification");
    expect(await callerFor(t.auth).auth.verifyEmail({ token })).toEqual({ ok: true });
    expect((await callerFor(t.auth, first.accessToken).auth.me()).user.emailVerified).toBe(true);
    expect(await reasonOf(callerFor(t.auth).auth.verifyEmail({ token }))).toBe("ONE_TIME_TOKEN_INVALID");
    expect(await eventsOf(userId, "email.verified")).toHaveLength(1);
    // Verified: a resend sends nothing.
    await callerFor(t.auth, first.accessToken).auth.requestEmailVerification({});
    expect(await eventsOf(userId, "email.requested")).toHaveLength(1);
  });

  it("requestEmailVerification resends with a new token that replaces the first", async () => {
    const { first, userId } = await account();
    const older = await latestToken(userId, "email_verification");
    expect(await callerFor(t.auth, first.accessToken).auth.requestEmailVerification({})).toEqual({ ok: true });
    const newer = await latestToken(userId, "email_verification");
    expect(newer).not.toBe(older);
    expect(await reasonOf(callerFor(t.auth).auth.verifyEmail({ token: older }))).toBe("ONE_TIME_TOKEN_INVALID");
    expect(await callerFor(t.auth).auth.verifyEmail({ token: newer })).toEqual({ ok: true });
  });

  it("the bootstrap admin is created verified", async () => {
    const admin = await createAdmin(t.auth, freshEmail(), password);
    expect(admin?.emailVerified).toBe(true);
  });
});

describe("REQUIRE_VERIFIED_EMAIL", () => {
  let strict: TestAuth;
  beforeAll(async () => {
    strict = await createTestAuth({ settings: { requireVerifiedEmail: true } });
  });
  afterAll(async () => {
    await strict?.close();
  });

  it("signup opens no session; login answers EMAIL_UNVERIFIED only after the password check; the link opens the door", async () => {
    const email = freshEmail();
    const result = await callerFor(strict.auth).auth.signup({ email, password });
    expect(result).toMatchObject({ verificationRequired: true, user: { email, emailVerified: false } });
    expect(result).not.toHaveProperty("accessToken");
    expect(await reasonOf(callerFor(strict.auth).auth.login({ email, password: "not the password" }))).toBe(
      "INVALID_CREDENTIALS",
    );
    expect(await reasonOf(callerFor(strict.auth).auth.login({ email, password }))).toBe("EMAIL_UNVERIFIED");

    const [row] = await strict.database.db
      .select({ id: outboxEvents.id })
      .from(outboxEvents)
      .where(and(eq(outboxEvents.type, "email.requested"), sql`${outboxEvents.payload}->>'userId' = ${result.user.id}`));
    const token = deriveOneTimeToken(strict.auth.oneTimeKeys[0], row!.id);
    await callerFor(strict.auth).auth.verifyEmail({ token });
    const signedIn = await callerFor(strict.auth).auth.login({ email, password });
    expect(signedIn.user.emailVerified).toBe(true);
    expect(await getCurrentSession(strict.auth, signedIn.sessionId)).toBeDefined();
  });
});

describe("bad input", () => {
  it("answers VALIDATION_FAILED and writes nothing", async () => {
    const { first } = await account();
    const [{ count: before } = { count: 0 }] = await t.database.db
      .select({ count: sql<number>`count(*)::int` })
      .from(outboxEvents);
    const anon = callerFor(t.auth);
    const signedIn = callerFor(t.auth, first.accessToken);
    const cases: Promise<unknown>[] = [
      signedIn.auth.changePassword({ currentPassword: password, newPassword: "short" }),
      signedIn.auth.changePassword({ currentPassword: password, newPassword: "x".repeat(1025) }),
      anon.auth.requestPasswordReset({ email: "not an email" }),
      anon.auth.requestPasswordReset({ email: "a\u200b@example.com" }),
      anon.auth.resetPassword({ token: "x".repeat(42), newPassword }),
      anon.auth.resetPassword({ token: `${"x".repeat(42)}!`, newPassword }),
      anon.auth.resetPassword({ token: "x".repeat(43), newPassword: "short" }),
      anon.auth.verifyEmail({ token: "x".repeat(44) }),
      anon.auth.verifyEmail({} as never),
    ];
    for (const call of cases) expect(await reasonOf(call)).toBe("VALIDATION_FAILED");
    const [{ count: after } = { count: 0 }] = await t.database.db
      .select({ count: sql<number>`count(*)::int` })
      .from(outboxEvents);
    expect(after).toBe(before);
  });

  it("a well-formed unknown token is ONE_TIME_TOKEN_INVALID", async () => {
    const token = Buffer.alloc(32, 7).toString("base64url");
    expect(await reasonOf(callerFor(t.auth).auth.resetPassword({ token, newPassword }))).toBe("ONE_TIME_TOKEN_INVALID");
    expect(await reasonOf(callerFor(t.auth).auth.verifyEmail({ token }))).toBe("ONE_TIME_TOKEN_INVALID");
  });

  it("signed-out callers cannot change a password or ask for a verification email", async () => {
    expect(await reasonOf(callerFor(t.auth).auth.changePassword({ currentPassword: password, newPassword }))).toBe(
      "TOKEN_MISSING",
    );
    expect(await reasonOf(callerFor(t.auth).auth.requestEmailVerification({}))).toBe("TOKEN_MISSING");
  });
});
