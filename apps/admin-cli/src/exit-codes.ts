import { isWardenError, type ErrorReason } from "@warden/client";
import { UsageError } from "./env.js";

/** Exit codes scripts can rely on. Documented in the README and in `warden --help`. */
export const EXIT = {
  OK: 0,
  USAGE: 1,
  NOT_SIGNED_IN: 2,
  NOT_FOUND: 3,
  FORBIDDEN: 4,
  UNAVAILABLE: 5,
  RATE_LIMITED: 6,
  TIMEOUT: 7,
} as const;

export const EXIT_CODES_HELP = `
Exit codes:
  0  success
  1  bad usage or input (unknown option, invalid email, missing --reason, ...)
  2  not signed in, wrong credentials, or the session has ended (run \`warden login\`)
  3  not found (no such user, session or event)
  4  forbidden (the signed-in account is not an admin, or it is locked; or the change would leave no unlocked admin)
  5  Warden server (or database) unreachable
  6  rate limited, try again later
  7  --wait gave up before the revocation was applied`;

/** An expected failure: one line on stderr and a stable exit code, never a stack trace. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

const BY_REASON: Partial<Record<ErrorReason, number>> = {
  VALIDATION_FAILED: EXIT.USAGE,
  EMAIL_TAKEN: EXIT.USAGE,
  NOT_FOUND: EXIT.NOT_FOUND,
  FORBIDDEN: EXIT.FORBIDDEN,
  ACCOUNT_LOCKED: EXIT.FORBIDDEN,
  LAST_ADMIN: EXIT.FORBIDDEN,
  UNAVAILABLE: EXIT.UNAVAILABLE,
  RATE_LIMITED: EXIT.RATE_LIMITED,
};

const MESSAGES: Partial<Record<ErrorReason, string>> = {
  TOKEN_MISSING: "not signed in; run `warden login`",
  INVALID_CREDENTIALS: "wrong email or password",
  FORBIDDEN: "forbidden: this account is not an admin",
  ACCOUNT_LOCKED: "this account is locked",
  RATE_LIMITED: "rate limited; try again later",
};

/** Maps whatever a command threw to a message and an exit code. Unknown errors keep their message. */
export function describeFailure(error: unknown, url: string | undefined): { message: string; exitCode: number } {
  if (error instanceof CliError) return { message: error.message, exitCode: error.exitCode };
  if (error instanceof UsageError) return { message: error.message, exitCode: EXIT.USAGE };
  if (isWardenError(error)) {
    const exitCode = BY_REASON[error.reason] ?? EXIT.NOT_SIGNED_IN;
    let message = MESSAGES[error.reason];
    if (!message) {
      if (error.reason === "UNAVAILABLE")
        message = `cannot reach Warden at ${url ?? "the server"} (is it running? set --url or WARDEN_URL)`;
      else if (error.reason === "VALIDATION_FAILED")
        message = `invalid input: ${error.issues?.map((i) => `${i.path || "input"}: ${i.message}`).join("; ") ?? error.message}`;
      else if (exitCode === EXIT.NOT_SIGNED_IN) message = `session ended (${error.reason}); run \`warden login\``;
      else message = error.message;
    }
    if (error.reason === "RATE_LIMITED" && error.retryAfterMs) message += ` (retry in ${Math.ceil(error.retryAfterMs / 1000)} s)`;
    return { message, exitCode };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { message: `unexpected error: ${message}`, exitCode: EXIT.USAGE };
}
