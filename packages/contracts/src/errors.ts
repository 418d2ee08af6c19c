/**
 * Every reason Warden can put in `error.data.reason`, with the tRPC code and HTTP
 * status it travels with. Clients switch on the reason, never on the message.
 */
export const ERROR_REASONS = {
  TOKEN_MISSING: { code: "UNAUTHORIZED", status: 401 },
  TOKEN_INVALID: { code: "UNAUTHORIZED", status: 401 },
  TOKEN_EXPIRED: { code: "UNAUTHORIZED", status: 401 },
  SESSION_REVOKED: { code: "UNAUTHORIZED", status: 401 },
  INVALID_CREDENTIALS: { code: "UNAUTHORIZED", status: 401 },
  REFRESH_TOKEN_MISSING: { code: "UNAUTHORIZED", status: 401 },
  REFRESH_TOKEN_INVALID: { code: "UNAUTHORIZED", status: 401 },
  REFRESH_TOKEN_EXPIRED: { code: "UNAUTHORIZED", status: 401 },
  REFRESH_TOKEN_REUSED: { code: "UNAUTHORIZED", status: 401 },
  REFRESH_TOKEN_REVOKED: { code: "UNAUTHORIZED", status: 401 },
  ACCOUNT_LOCKED: { code: "FORBIDDEN", status: 403 },
  EMAIL_UNVERIFIED: { code: "FORBIDDEN", status: 403 },
  FORBIDDEN: { code: "FORBIDDEN", status: 403 },
  EMAIL_TAKEN: { code: "CONFLICT", status: 409 },
  /** The change would leave no unlocked admin (a demotion, a lock or a deletion of the last one). */
  LAST_ADMIN: { code: "CONFLICT", status: 409 },
  ONE_TIME_TOKEN_INVALID: { code: "BAD_REQUEST", status: 400 },
  NOT_FOUND: { code: "NOT_FOUND", status: 404 },
  VALIDATION_FAILED: { code: "BAD_REQUEST", status: 400 },
  RATE_LIMITED: { code: "TOO_MANY_REQUESTS", status: 429 },
  UNAVAILABLE: { code: "SERVICE_UNAVAILABLE", status: 503 },
} as const satisfies Record<string, { code: string; status: number }>;

export type ErrorReason = keyof typeof ERROR_REASONS;
export type ErrorCode = (typeof ERROR_REASONS)[ErrorReason]["code"];

export const ERROR_REASON_LIST = Object.keys(ERROR_REASONS) as ErrorReason[];

/** Reasons after which the session can never be used again: clients drop their tokens. */
export const SESSION_ENDING_REASONS = [
  "SESSION_REVOKED",
  "REFRESH_TOKEN_MISSING",
  "REFRESH_TOKEN_INVALID",
  "REFRESH_TOKEN_EXPIRED",
  "REFRESH_TOKEN_REUSED",
  "REFRESH_TOKEN_REVOKED",
  "ACCOUNT_LOCKED",
] as const satisfies readonly ErrorReason[];
export type SessionEndingReason = (typeof SESSION_ENDING_REASONS)[number];

export function isErrorReason(value: unknown): value is ErrorReason {
  return typeof value === "string" && Object.hasOwn(ERROR_REASONS, value);
}

/** The shape of `error.data` on every Warden error. */
export interface WardenErrorData {
  code: string;
  httpStatus: number;
  reason: ErrorReason;
  issues?: { path: string; message: string }[];
  retryAfterMs?: number;
  path?: string;
}
