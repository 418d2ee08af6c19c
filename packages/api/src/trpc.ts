import { getTRPCErrorFromUnknown, initTRPC, type TRPCError } from "@trpc/server";
import { parseBearer, principalOf, type Principal } from "@warden/access-token";
import { AuthError, findUserRole, verifyAccessTokenCached } from "@warden/auth";
import type { Context, ContextSlots } from "./context.js";
import { fail, formatError } from "./errors.js";

const t = initTRPC.context<Context>().create({
  errorFormatter: ({ error, path }) => formatError(error, path),
});

export const createTRPCRouter = t.router;
export const createCallerFactory = t.createCallerFactory;

/**
 * Every procedure runs inside this: the context's observer (metrics) is told how each call ended
 * and how long it took, authorization and input parsing included. Without an observer it costs
 * one branch.
 */
async function observed<Result extends { ok: boolean; error?: TRPCError }>(
  ctx: Context,
  path: string,
  call: () => Promise<Result>,
): Promise<Result> {
  const observer = ctx.observer;
  if (!observer) return call();
  const started = performance.now();
  const seconds = () => (performance.now() - started) / 1000;
  try {
    const result = await call();
    observer.called(path, result.ok ? undefined : result.error, seconds());
    return result;
  } catch (cause) {
    observer.called(path, getTRPCErrorFromUnknown(cause), seconds());
    throw cause;
  }
}

export const publicProcedure = t.procedure.use(({ ctx, path, next }) => observed(ctx, path, () => next()));

/** A valid access token whose session is not revoked, as the request's Authorization header carries it. */
function authenticate(ctx: Context): Principal {
  const bearer = parseBearer(ctx.req.authorization);
  if (!bearer.ok) fail(bearer.reason, bearer.message);
  return principalOf(verifyAccessTokenCached(ctx.auth, bearer.token));
}

/**
 * Signed in: a valid access token whose session is not revoked. Runs before input parsing, so
 * an anonymous caller learns nothing about the input's shape. Observed and authorized in one
 * middleware, not publicProcedure plus another: tRPC copies a call's options at every middleware
 * level, a cost every protected call would pay.
 *
 * The principal goes into the context's own slot (ContextSlots), and `next` is told the context
 * now has one: `next({ ctx })` would copy the whole context for every protected call. Calls of
 * one batch share their context and their Authorization header, so each writes the same principal.
 */
export const protectedProcedure = t.procedure.use(({ ctx, path, next }) =>
  observed(ctx, path, () => {
    (ctx as ContextSlots).principal = authenticate(ctx);
    return (next as typeof next<{ principal: Principal }>)({});
  }),
);

/** Admin: the token says admin and the database still agrees (a demotion takes effect at once). */
export const adminProcedure = protectedProcedure.use(async ({ ctx, next }) => {
  if (ctx.principal.role !== "admin") throw new AuthError("FORBIDDEN", "admins only");
  const current = await findUserRole(ctx.auth, ctx.principal.userId);
  if (!current || current.role !== "admin" || current.locked) throw new AuthError("FORBIDDEN", "admins only");
  return next();
});
