import type { TRPCRouterRecord } from "@trpc/server";
import { getCurrentSessionCached, login, revokeSession, revokeUserSessions, rotateRefreshToken, signup } from "@warden/auth";
import { emptyInput, loginInput, refreshInput, signupInput, type TokenPair } from "@warden/contracts";
import type { Context } from "../context.js";
import { fail } from "../errors.js";
import { protectedProcedure, publicProcedure } from "../trpc.js";

function clientInfo(ctx: Context) {
  return { ip: ctx.req.ip, userAgent: ctx.req.userAgent };
}

/** In browser mode the refresh token goes into the httpOnly cookie and never into the body. */
function deliver<T extends TokenPair>(ctx: Context, result: T): T {
  if (!ctx.req.cookieMode || !ctx.req.setRefreshCookie) return result;
  ctx.req.setRefreshCookie(result.refreshToken, result.refreshTokenExpiresAt);
  return { ...result, refreshToken: "" };
}

export const authRouter = {
  signup: publicProcedure.input(signupInput).mutation(async ({ ctx, input }) => {
    await ctx.rateLimiter?.consume("signup", { ip: ctx.req.ip });
    return deliver(ctx, await signup(ctx.auth, input, clientInfo(ctx)));
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
    return deliver(ctx, await rotateRefreshToken(ctx.auth, token));
  }),

  logout: protectedProcedure.input(emptyInput).mutation(async ({ ctx }) => {
    const { userId, sessionId } = ctx.principal;
    await revokeSession(ctx.auth, { sessionId, ownerId: userId, reason: "logout", actor: { type: "user", id: userId } });
    ctx.req.clearRefreshCookie?.();
    return { ok: true as const };
  }),

  logoutAll: protectedProcedure.input(emptyInput).mutation(async ({ ctx }) => {
    const { userId } = ctx.principal;
    const { revokedSessions } = await revokeUserSessions(ctx.auth, {
      userId,
      reason: "logout everywhere",
      actor: { type: "user", id: userId },
    });
    ctx.req.clearRefreshCookie?.();
    return { revokedSessions };
  }),

  me: protectedProcedure.query(async ({ ctx }) => {
    const current = await getCurrentSessionCached(ctx.auth, ctx.principal.sessionId);
    if (!current || current.revoked || current.user.id !== ctx.principal.userId) {
      fail("SESSION_REVOKED", "session revoked");
    }
    return { user: current.user, session: current.session };
  }),
} satisfies TRPCRouterRecord;
