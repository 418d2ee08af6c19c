/** Why a request's access token was refused: the same reasons the Warden server gives. */
export type VerifierReason = "TOKEN_MISSING" | "TOKEN_INVALID" | "TOKEN_EXPIRED" | "SESSION_REVOKED";

export class VerifierError extends Error {
  readonly reason: VerifierReason;
  /** HTTP status to answer with (401 for every reason). */
  readonly status = 401;

  constructor(reason: VerifierReason, message: string) {
    super(message);
    this.name = "VerifierError";
    this.reason = reason;
  }
}

export function isVerifierError(error: unknown, reason?: VerifierReason): error is VerifierError {
  return error instanceof VerifierError && (reason === undefined || error.reason === reason);
}
