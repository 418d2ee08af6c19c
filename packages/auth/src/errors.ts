import type { ErrorReason } from "@warden/contracts";

/** A domain failure with one of SPEC's reasons. The api layer turns it into a TRPCError. */
export class AuthError extends Error {
  readonly reason: ErrorReason;
  readonly retryAfterMs: number | undefined;

  constructor(reason: ErrorReason, message?: string, options: { retryAfterMs?: number } = {}) {
    super(message ?? reason);
    this.name = "AuthError";
    this.reason = reason;
    this.retryAfterMs = options.retryAfterMs;
  }
}
