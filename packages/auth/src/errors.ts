import type { ErrorReason } from "@warden/contracts";

/** A domain failure with one of SPEC's reasons. The api layer turns it into a TRPCError. */
export class AuthError extends Error {
  readonly reason: ErrorReason;
  readonly retryAfterMs: number | undefined;
  /** VALIDATION_FAILED found by the domain (a rule that needs its settings): which field, and why. */
  readonly issues: { path: string; message: string }[] | undefined;

  constructor(
    reason: ErrorReason,
    message?: string,
    options: { retryAfterMs?: number; issues?: { path: string; message: string }[] } = {},
  ) {
    super(message ?? reason);
    this.name = "AuthError";
    this.reason = reason;
    this.retryAfterMs = options.retryAfterMs;
    this.issues = options.issues;
  }
}

/**
 * What went wrong, fit for a log line or a status column: the innermost cause's first line (a
 * database error's own message, never the query and parameters a driver wraps it in).
 */
export function failureSummary(error: unknown): string {
  let cause = error;
  while (cause instanceof Error && cause.cause instanceof Error) cause = cause.cause;
  const message = cause instanceof Error ? cause.message : String(cause);
  return (message.split("\n")[0] ?? "").slice(0, 500);
}
