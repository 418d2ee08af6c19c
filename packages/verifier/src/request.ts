import { VerifierError } from "./errors.js";
import type { Principal, Verifier } from "./verifier.js";

const BEARER = /^Bearer +([A-Za-z0-9_\-.=]+)$/i;

/** The token of an Authorization header, or the server's reason for refusing it. */
export function bearerToken(header: string | string[] | undefined | null): string {
  if (header === undefined || header === null || header === "") throw new VerifierError("TOKEN_MISSING", "no access token");
  // Two Authorization headers are ambiguous: refuse rather than pick one (as the server does).
  if (Array.isArray(header)) {
    if (header.length !== 1) throw new VerifierError("TOKEN_INVALID", "more than one Authorization header");
    return bearerToken(header[0]);
  }
  const match = BEARER.exec(header);
  if (!match?.[1]) throw new VerifierError("TOKEN_INVALID", "Authorization must be 'Bearer <token>'");
  return match[1];
}

/** Authorization header -> typed principal, or a VerifierError with the server's reason. */
export function verifyRequest(verifier: Verifier, authorization: string | string[] | undefined | null): Promise<Principal> {
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
  return (
    req: RequestLike,
    res: { status(code: number): { json(body: unknown): unknown } },
    next: (error?: unknown) => void,
  ) => {
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
