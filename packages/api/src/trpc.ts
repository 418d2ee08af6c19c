import { initTRPC } from "@trpc/server";
import { AuthError, findUserRole, verifyAccessTokenCached } from "@warden/auth";
import type { AccessTokenClaims } from "@warden/contracts";
import type { Context } from "./context.js";
import { fail, formatError } from "./errors.js";

const t = initTRPC.context<Context>().create({
  errorFormatter: ({ error, path }) => formatError(error, path),
});

export const createTRPCRouter = t.router;
export const createCallerFactory = t.createCallerFactory;
export const publicProcedure = t.procedure;

/**
 * RFC 7235: the scheme is case-insensitive, so `bearer` is accepted like `Bearer`. The token is
 * three unpadded base64url segments; anything else (padding, `+`, `/`, spaces) is refused.
 */
const BEARER = /^Bearer +([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/i;

/** The bearer token of the request, or the reason there is none usable. */
function bearerToken(header: string | string[] | undefined): string {
  if (header === undefined || header === "") fail("TOKEN_MISSING", "no access token");
  // Two Authorization headers are ambiguous: refuse rather than pick one.
  if (Array.isArray(header)) fail("TOKEN_INVALID", "more than one Authorization header");
  const match = BEARER.exec(header);
  if (!match?.[1]) fail("TOKEN_INVALID", "Authorization must be 'Bearer <token>'");
  return match[1];
}

export interface Principal {
  userId: string;
  sessionId: string;
  role: AccessTokenClaims["role"];
  claims: AccessTokenClaims;
}

/**
 * Signed in: a valid access token whose session is not revoked. Runs before input parsing, so
 * an anonymous caller learns nothing about the input's shape.
 */
export const protectedProcedure = t.procedure.use(({ ctx, next }) => {
  const { auth } = ctx;
  const token = bearerToken(ctx.req.authorization);
  const claims = verifyAccessTokenCached(auth, token, {
    now: auth.clock(),
    isSessionRevoked: (sid) => auth.revocations.has(sid),
    isIssuedBeforeNotBefore: (claims) => auth.revocations.issuedBeforeNotBefore(claims.sub, claims.iat),
  });
  const principal: Principal = { userId: claims.sub, sessionId: claims.sid, role: claims.role, claims };
  return next({ ctx: { ...ctx, principal } });
});

/** Admin: the token says admin and the database still agrees (a demotion takes effect at once). */
export const adminProcedure = protectedProcedure.use(async ({ ctx, next }) => {
  if (ctx.principal.role !== "admin") throw new AuthError("FORBIDDEN", "admins only");
  const current = await findUserRole(ctx.auth, ctx.principal.userId);
  if (!current || current.role !== "admin" || current.locked) throw new AuthError("FORBIDDEN", "admins only");
  return next();
});
