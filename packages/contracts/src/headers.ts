/**
 * Browser mode: a request carrying this header with the value "1" gets its refresh token as an
 * httpOnly cookie (signup, login, refresh), and refresh reads it from there. Without the header
 * the cookie is ignored, so a cross-site form cannot use it. Kept free of zod, so the client
 * inlines it without pulling in the schemas.
 */
export const COOKIE_HEADER = "x-warden-cookie";
