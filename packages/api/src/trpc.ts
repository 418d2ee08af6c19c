import { initTRPC } from "@trpc/server";
import { parseBearer, principalOf } from "@warden/access-token";
import { AuthError, findUserRole, verifyAccessTokenCached } from "@warden/auth";
import type { Context } from "./context.js";
import { fail, formatError } from "./errors.js";

const t = initTRPC.context<Context>().create({
  errorFormatter: ({ error, path }) => formatError(error, path),
});

export const createTRPCRouter = t.router;
export const createCallerFactory = t.createCallerFactory;

/**
 * Every procedure starts here: the context's observer (metrics) is told how each call ended and how
 * long it took, authorization and input parsing included. Without an observer it costs one branch.
 */
export const publicProcedure = t.procedure.use(async ({ ctx, path, next }) => {
  const observer = ctx.observer;
  if (!observer) return next();
  const started = performance.now();
  const result = await next();
  observer.called(path, result.ok ? undefined : result.error, (performance.now() - started) / 1000);
  return result;
});

/**
 * Signed in: a valid access token whose session is not revoked. Runs before input parsing, so
 * an anonymous caller learns nothing about the input's shape.
 */
export const protectedProcedure = publicProcedure.use(({ ctx, next }) => {
  const bearer = parseBearer(ctx.req.authorization);
  if (!bearer.ok) fail(bearer.reason, bearer.message);
  const principal = principalOf(verifyAccessTokenCached(ctx.auth, bearer.token));
  return next({ ctx: { ...ctx, principal } });
});

/** Admin: the token says admin and the database still agrees (a demotion takes effect at once). */
export const adminProcedure = protectedProcedure.use(async ({ ctx, next }) => {
  if (ctx.principal.role !== "admin") throw new AuthError("FORBIDDEN", "admins only");
  const current = await findUserRole(ctx.auth, ctx.principal.userId);
  if (!current || current.role !== "admin" || current.locked) throw new AuthError("FORBIDDEN", "admins only");
  return next();
});
