/**
 * The procedures anyone may call, signed in or not: the client sends them without an access token
 * and never renews one for them (a reset link opened in a browser whose session has ended still
 * works). packages/api's public-procedures test calls every procedure of the router without a
 * token and fails when this list and the router disagree. Kept free of zod, so the client inlines
 * it without pulling in the schemas.
 */
export const PUBLIC_PROCEDURES = [
  "auth.signup",
  "auth.login",
  "auth.refresh",
  "auth.requestPasswordReset",
  "auth.resetPassword",
  "auth.verifyEmail",
  "health",
] as const;
