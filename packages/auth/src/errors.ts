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
