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
export const publicProcedure = t.procedure;

/**
 * Signed in: a valid access token whose session is not revoked. Runs before input parsing, so
 * an anonymous caller learns nothing about the input's shape.
 */
export const protectedProcedure = t.procedure.use(({ ctx, next }) => {
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
