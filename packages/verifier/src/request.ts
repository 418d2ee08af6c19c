import { parseBearer, type Principal } from "@warden/access-token";
import { VerifierError } from "./errors.js";
import type { Verifier } from "./verifier.js";

/**
 * The token of an Authorization header, or the server's reason for refusing it: the server's own
 * parser, so a list of values (duplicate headers) is refused, even a list of one.
 */
export function bearerToken(header: string | readonly string[] | undefined | null): string {
  const parsed = parseBearer(header);
  if (!parsed.ok) throw new VerifierError(parsed.reason, parsed.message);
  return parsed.token;
}

/** Authorization header -> typed principal, or a VerifierError with the server's reason. */
export function verifyRequest(
  verifier: Verifier,
  authorization: string | readonly string[] | undefined | null,
): Promise<Principal> {
  try {
    return verifier.verify(bearerToken(authorization));
  } catch (error) {
    return Promise.reject(error);
  }
}

/** The JSON body a refused request gets: the same shape and reason the Warden server sends. */
export function errorResponse(error: VerifierError) {
  return { error: { message: error.message, data: { code: "UNAUTHORIZED", httpStatus: error.status, reason: error.reason } } };
}

interface RequestLike {
  headers: Record<string, string | string[] | undefined>;
  principal?: Principal;
}

/**
 * Fastify `onRequest`/`preHandler` hook: sets `request.principal`, or answers 401 with the
 * reason. `app.addHook("onRequest", fastifyAuth(verifier))` (declare `principal` on FastifyRequest).
 */
export function fastifyAuth(verifier: Verifier) {
  return async (request: RequestLike, reply: { code(status: number): { send(body: unknown): unknown } }) => {
    try {
      request.principal = await verifyRequest(verifier, request.headers.authorization);
    } catch (error) {
      if (!(error instanceof VerifierError)) throw error;
      return reply.code(error.status).send(errorResponse(error));
    }
  };
}

/** Express middleware: sets `req.principal`, or answers 401 with the reason. */
export function expressAuth(verifier: Verifier) {
  return (req: RequestLike, res: { status(code: number): { json(body: unknown): unknown } }, next: (error?: unknown) => void) => {
    verifyRequest(verifier, req.headers.authorization).then(
      (principal) => {
        req.principal = principal;
        next();
      },
      (error: unknown) => {
        if (error instanceof VerifierError) res.status(error.status).json(errorResponse(error));
        else next(error);
      },
    );
  };
}
