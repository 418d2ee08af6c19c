import { TRPCError } from "@trpc/server";
import { TRPC_ERROR_CODES_BY_KEY } from "@trpc/server/rpc";
import { AuthError } from "@warden/auth";
import { ERROR_REASONS, type ErrorReason, type WardenErrorData } from "@warden/contracts";
import { ZodError } from "zod";

/** Throws a TRPCError carrying one of SPEC's reasons. */
export function fail(reason: ErrorReason, message?: string): never {
  throw toTRPCError(new AuthError(reason, message));
}

function toTRPCError(error: AuthError): TRPCError {
  return new TRPCError({ code: ERROR_REASONS[error.reason].code, message: error.message, cause: error });
}

const CONNECTION_ERRORS = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "CONNECT_TIMEOUT",
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "57P01", // admin_shutdown
  "57P03", // cannot_connect_now
]);

/** A dependency (PostgreSQL, Redis) could not be reached: the caller gets UNAVAILABLE, not a 500. */
export function isUnavailable(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e && typeof e === "object" && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && CONNECTION_ERRORS.has(code)) return true;
    if ((e as { name?: unknown }).name === "MaxRetriesPerRequestError") return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

function issuesOf(error: ZodError): { path: string; message: string }[] {
  return error.issues.map((i) => ({ path: i.path.map(String).join("."), message: i.message }));
}

/**
 * Why tRPC could not read the request, said so that the caller can fix it (the messages name the
 * fault, never echo what was sent). tRPC reads a body only as JSON sent with
 * `content-type: application/json`.
 */
function unparsedRequestMessage(error: TRPCError): string {
  // Whether the header was missing or named another type cannot be told apart here: the Fastify
  // adapter hands tRPC a Request whose string body gets text/plain when no type was sent.
  if (error.code === "UNSUPPORTED_MEDIA_TYPE") {
    return "the content type is missing or not JSON: send the body as JSON with content-type: application/json";
  }
  if (error.code === "PAYLOAD_TOO_LARGE") return "the request body is too large";
  if (error.cause instanceof SyntaxError) return "the input is not valid JSON (the body of a POST, ?input= of a GET)";
  return "request could not be parsed";
}

export interface WardenErrorShape {
  message: string;
  code: number;
  data: WardenErrorData;
}

/**
 * Every error leaves with a reason, a matching tRPC code and HTTP status, and a message that
 * never echoes input (tokens, passwords). Unexpected errors become a generic 500.
 */
export function formatError(error: TRPCError, path: string | undefined): WardenErrorShape {
  let reason: ErrorReason | undefined;
  let message = error.message;
  let issues: WardenErrorData["issues"];
  let retryAfterMs: number | undefined;
  const cause = error.cause;
  if (cause instanceof AuthError) {
    reason = cause.reason;
    retryAfterMs = cause.retryAfterMs;
    issues = cause.issues;
  } else if (cause instanceof ZodError) {
    reason = "VALIDATION_FAILED";
    issues = issuesOf(cause);
    message = "input is invalid";
  } else if (
    ["PARSE_ERROR", "BAD_REQUEST", "UNSUPPORTED_MEDIA_TYPE", "PAYLOAD_TOO_LARGE", "UNPROCESSABLE_CONTENT"].includes(error.code)
  ) {
    reason = "VALIDATION_FAILED";
    message = unparsedRequestMessage(error);
    issues = [{ path: "", message }];
  } else if (error.code === "NOT_FOUND" || error.code === "METHOD_NOT_SUPPORTED") {
    reason = "NOT_FOUND";
    message = error.code === "NOT_FOUND" ? "no such procedure" : "method not supported for this procedure";
  } else if (isUnavailable(error)) {
    reason = "UNAVAILABLE";
    message = "a dependency is unavailable, try again shortly";
  }
  if (!reason) {
    return {
      message: "internal error",
      code: TRPC_ERROR_CODES_BY_KEY.INTERNAL_SERVER_ERROR,
      data: { code: "INTERNAL_SERVER_ERROR", httpStatus: 500, reason: "UNAVAILABLE", ...(path ? { path } : {}) },
    };
  }
  const { code, status } = ERROR_REASONS[reason];
  const httpStatus = error.code === "METHOD_NOT_SUPPORTED" ? 405 : status;
  return {
    message,
    code: TRPC_ERROR_CODES_BY_KEY[code],
    data: {
      code,
      httpStatus,
      reason,
      ...(issues ? { issues } : {}),
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
      ...(path ? { path } : {}),
    },
  };
}
