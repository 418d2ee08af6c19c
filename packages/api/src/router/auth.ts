import type { TRPCRouterRecord } from "@trpc/server";
import {
  changePassword,
  createAccount,
  getCurrentSessionCached,
  login,
  type CurrentSession,
  requestEmailVerification,
  requestPasswordReset,
  resetPassword,
  revokeSession,
  revokeUserSessions,
  rotateRefreshToken,
  verifyEmail,
} from "@warden/auth";
import {
  changePasswordInput,
  emptyInput,
  loginInput,
  refreshInput,
  requestPasswordResetInput,
  resetPasswordInput,
  signupInput,
  verifyEmailInput,
  type TokenPair,
  type VerificationRequired,
} from "@warden/contracts";
import type { Principal } from "@warden/access-token";
import { clientInfo, type Context } from "../context.js";
import { fail } from "../errors.js";
import { withJsonText } from "../json-text.js";
import { protectedProcedure, publicProcedure } from "../trpc.js";

/** In browser mode the refresh token goes into the httpOnly cookie and never into the body. */
function deliver<T extends TokenPair | VerificationRequired>(ctx: Context, result: T): T {
  if ("verificationRequired" in result || !ctx.req.cookieMode || !ctx.req.setRefreshCookie) return result;
  ctx.req.setRefreshCookie(result.refreshToken, result.refreshTokenExpiresAt);
  return { ...result, refreshToken: "" };
}

type MeAnswer = { user: CurrentSession["user"]; session: CurrentSession["session"] };

/**
 * `auth.me`'s answer for each session row the session cache holds: built and serialised once per
 * row (withJsonText), not on every call.
 */
const meAnswers = new WeakMap<CurrentSession, MeAnswer>();

/** `auth.me`'s answer: the caller's user and session, while the session is live and theirs. */
function meAnswer(principal: Principal, current: CurrentSession | undefined): MeAnswer {
  if (!current || current.revoked || current.user.id !== principal.userId) fail("SESSION_REVOKED", "session revoked");
  let answer = meAnswers.get(current);
  if (answer === undefined) {
    answer = withJsonText(meAnswerOf(current));
    meAnswers.set(current, answer);
  }
  return answer;
}

/**
 * Written out property by property, not spread: V8 gives objects copied by a spread a hidden
 * class of their own once frozen, so every session's answer had its own, and every property read
 * of an answer (the route's stream checks, JSON_TEXT) missed its inline caches. Literals share one.
 */
function meAnswerOf({ user, session }: CurrentSession): MeAnswer {
  return {
    user: {
      id: user.id,
      email: user.email,
      role: user.role,
      emailVerified: user.emailVerified,
      locked: user.locked,
      createdAt: user.createdAt,
    },
    session: { id: session.id, createdAt: session.createdAt, expiresAt: session.expiresAt },
  };
}

export const authRouter = {
  signup: publicProcedure.input(signupInput).mutation(async ({ ctx, input }) => {
    await ctx.rateLimiter?.consume("signup", { ip: ctx.req.ip });
    return deliver(ctx, await createAccount(ctx.auth, input, clientInfo(ctx)));
  }),

  login: publicProcedure.input(loginInput).mutation(async ({ ctx, input }) => {
    await ctx.rateLimiter?.consume("login", { ip: ctx.req.ip });
    await ctx.rateLimiter?.consume("loginAccount", { ip: ctx.req.ip, email: input.email });
    const result = await login(ctx.auth, input, clientInfo(ctx));
    await ctx.rateLimiter?.reward?.("loginAccount", { ip: ctx.req.ip, email: input.email });
    return deliver(ctx, result);
  }),

  refresh: publicProcedure.input(refreshInput).mutation(async ({ ctx, input }) => {
    await ctx.rateLimiter?.consume("refresh", { ip: ctx.req.ip });
    // The cookie is read only with the custom header: a cross-site form cannot send it (CSRF).
    const token = input?.refreshToken ?? (ctx.req.cookieMode ? ctx.req.refreshCookie : undefined);
    if (!token) fail("REFRESH_TOKEN_MISSING", "no refresh token");
    return deliver(ctx, await rotateRefreshToken(ctx.auth, token, clientInfo(ctx)));
  }),

  logout: protectedProcedure.input(emptyInput).mutation(async ({ ctx }) => {
    const { userId, sessionId } = ctx.principal;
    await revokeSession(ctx.auth, {
      sessionId,
      ownerId: userId,
      reason: "logout",
      actor: { type: "user", id: userId },
      client: clientInfo(ctx),
    });
    ctx.req.clearRefreshCookie?.();
    return { ok: true as const };
  }),

  logoutAll: protectedProcedure.input(emptyInput).mutation(async ({ ctx }) => {
    const { userId } = ctx.principal;
    const { revokedSessions } = await revokeUserSessions(ctx.auth, {
      userId,
      reason: "logout everywhere",
      actor: { type: "user", id: userId },
      client: clientInfo(ctx),
    });
    ctx.req.clearRefreshCookie?.();
    return { revokedSessions };
  }),

  changePassword: protectedProcedure.input(changePasswordInput).mutation(async ({ ctx, input }) => {
    const { userId, sessionId } = ctx.principal;
    // The budgets of a login: a stolen access token cannot be used to guess the password.
    await ctx.rateLimiter?.consume("login", { ip: ctx.req.ip });
    await ctx.rateLimiter?.consume("loginAccount", { ip: ctx.req.ip, email: `user:${userId}` });
    const result = await changePassword(ctx.auth, { userId, sessionId }, input, clientInfo(ctx));
    await ctx.rateLimiter?.reward?.("loginAccount", { ip: ctx.req.ip, email: `user:${userId}` });
    return result;
  }),

  requestPasswordReset: publicProcedure.input(requestPasswordResetInput).mutation(async ({ ctx, input }) => {
    await ctx.rateLimiter?.consume("passwordReset", { ip: ctx.req.ip });
    // Per address, wherever the requests come from: nobody floods a mailbox with reset emails.
    await ctx.rateLimiter?.consume("passwordResetEmail", { ip: undefined, email: input.email });
    return requestPasswordReset(ctx.auth, input.email, clientInfo(ctx));
  }),

  resetPassword: publicProcedure.input(resetPasswordInput).mutation(async ({ ctx, input }) => {
    await ctx.rateLimiter?.consume("passwordReset", { ip: ctx.req.ip });
    const { ok } = await resetPassword(ctx.auth, input, clientInfo(ctx));
    ctx.req.clearRefreshCookie?.();
    return { ok };
  }),

  requestEmailVerification: protectedProcedure.input(emptyInput).mutation(async ({ ctx }) => {
    await ctx.rateLimiter?.consume("emailVerification", { ip: undefined, email: `user:${ctx.principal.userId}` });
    return requestEmailVerification(ctx.auth, ctx.principal.userId, clientInfo(ctx));
  }),

  verifyEmail: publicProcedure.input(verifyEmailInput).mutation(async ({ ctx, input }) => {
    await ctx.rateLimiter?.consume("passwordReset", { ip: ctx.req.ip });
    return verifyEmail(ctx.auth, input.token, clientInfo(ctx));
  }),

  // Not async: a cached row is answered without another promise.
  me: protectedProcedure.query(({ ctx }) => {
    const current = getCurrentSessionCached(ctx.auth, ctx.principal.sessionId);
    return current instanceof Promise ? current.then((read) => meAnswer(ctx.principal, read)) : meAnswer(ctx.principal, current);
  }),
} satisfies TRPCRouterRecord;
