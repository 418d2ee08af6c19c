import { TRPCClientError } from "@trpc/client";
import type { AppRouter } from "@warden/api";
import type { ErrorReason, SessionEndingReason } from "@warden/contracts";

/** HTTP status of each reason, as the server sends it (kept here so the bundle carries no zod). */
const STATUS: Record<ErrorReason, number> = {
  TOKEN_MISSING: 401,
  TOKEN_INVALID: 401,
  TOKEN_EXPIRED: 401,
  SESSION_REVOKED: 401,
  INVALID_CREDENTIALS: 401,
  REFRESH_TOKEN_MISSING: 401,
  REFRESH_TOKEN_INVALID: 401,
  REFRESH_TOKEN_EXPIRED: 401,
  REFRESH_TOKEN_REUSED: 401,
  REFRESH_TOKEN_REVOKED: 401,
  ACCOUNT_LOCKED: 403,
  EMAIL_UNVERIFIED: 403,
  FORBIDDEN: 403,
  EMAIL_TAKEN: 409,
  LAST_ADMIN: 409,
  ONE_TIME_TOKEN_INVALID: 400,
  NOT_FOUND: 404,
  VALIDATION_FAILED: 400,
  RATE_LIMITED: 429,
  UNAVAILABLE: 503,
};

/** Reasons after which the session can never be used again (SESSION_ENDING_REASONS in contracts). */
const SESSION_ENDING: readonly SessionEndingReason[] = [
  "SESSION_REVOKED",
  "REFRESH_TOKEN_MISSING",
  "REFRESH_TOKEN_INVALID",
  "REFRESH_TOKEN_EXPIRED",
  "REFRESH_TOKEN_REUSED",
  "REFRESH_TOKEN_REVOKED",
  "ACCOUNT_LOCKED",
] satisfies readonly SessionEndingReason[];
// Compile-time check that no reason of the contract is missing here.
type Missing = Exclude<SessionEndingReason, (typeof SESSION_ENDING)[number]>;
const _complete: [Missing] extends [never] ? true : Missing = true;
void _complete;

export function isSessionEndingReason(reason: unknown): reason is SessionEndingReason {
  return (SESSION_ENDING as readonly unknown[]).includes(reason);
}

function isKnownReason(value: unknown): value is ErrorReason {
  return typeof value === "string" && Object.hasOwn(STATUS, value);
}

export interface WardenErrorOptions {
  status?: number;
  issues?: { path: string; message: string }[] | undefined;
  retryAfterMs?: number | undefined;
  cause?: unknown;
}

/**
 * Every failed call rejects with this: switch on `reason`, never on the message. It is also a
 * TRPCClientError (`data`, `shape` as tRPC gives them), so tRPC-aware code keeps working; the
 * original error is `cause`.
 */
export class WardenError extends TRPCClientError<AppRouter> {
  readonly reason: ErrorReason;
  readonly status: number;
  readonly issues: { path: string; message: string }[] | undefined;
  readonly retryAfterMs: number | undefined;

  constructor(reason: ErrorReason, message: string, options: WardenErrorOptions = {}) {
    const cause = options.cause instanceof Error ? options.cause : undefined;
    const result = cause instanceof TRPCClientError && cause.shape ? { error: cause.shape } : undefined;
    super(message, { cause, ...(result ? { result } : {}) });
    // TRPCClientError resets the prototype to its own; subclasses put theirs back.
    Object.setPrototypeOf(this, new.target.prototype);
    this.name = new.target.name;
    this.reason = reason;
    this.status = options.status ?? STATUS[reason];
    this.issues = options.issues;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** The session is over (revoked, expired, stolen refresh token, locked account): sign in again. */
export class WardenSessionEndedError extends WardenError {
  declare readonly reason: SessionEndingReason;
  constructor(reason: SessionEndingReason, options: WardenErrorOptions = {}) {
    super(reason, `session ended: ${reason}`, options);
  }
}

export function isWardenError<R extends ErrorReason>(error: unknown, reason?: R): error is WardenError & { reason: R } {
  return error instanceof WardenError && (reason === undefined || error.reason === reason);
}

/** What the server put in `error.data`, read defensively (any HTTP peer can answer anything). */
interface ErrorData {
  reason?: unknown;
  httpStatus?: unknown;
  issues?: unknown;
  retryAfterMs?: unknown;
}

/** Turns whatever a call failed with into a WardenError. No server answer at all is UNAVAILABLE. */
export function toWardenError(error: unknown): WardenError {
  if (error instanceof WardenError) return error;
  const data = (error instanceof TRPCClientError ? error.data : undefined) as ErrorData | undefined;
  const message = error instanceof Error ? error.message : "request failed";
  if (data && isKnownReason(data.reason)) {
    return new WardenError(data.reason, message, {
      status: typeof data.httpStatus === "number" ? data.httpStatus : undefined,
      issues: Array.isArray(data.issues) ? (data.issues as WardenErrorOptions["issues"]) : undefined,
      retryAfterMs: typeof data.retryAfterMs === "number" ? data.retryAfterMs : undefined,
      cause: error,
    });
  }
  return new WardenError("UNAVAILABLE", data ? "unexpected answer from Warden" : "Warden could not be reached", {
    status: typeof data?.httpStatus === "number" ? data.httpStatus : 503,
    cause: error,
  });
}

/** A raw JSON error body (`{ error: { message, data } }`) from a non-tRPC fetch. */
export function errorFromBody(body: unknown, status: number): WardenError {
  const error = (body as { error?: { message?: unknown; data?: ErrorData } } | null)?.error;
  const reason = error?.data?.reason;
  const message = typeof error?.message === "string" ? error.message : `HTTP ${status}`;
  if (isKnownReason(reason)) {
    const retryAfterMs = error?.data?.retryAfterMs;
    return new WardenError(reason, message, {
      status,
      retryAfterMs: typeof retryAfterMs === "number" ? retryAfterMs : undefined,
    });
  }
  return new WardenError("UNAVAILABLE", message, { status });
}
