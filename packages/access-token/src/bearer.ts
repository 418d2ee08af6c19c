/**
 * The one Authorization header parser. RFC 7235: the scheme is case-insensitive, so `bearer` is
 * accepted like `Bearer`. The token is three unpadded base64url segments; anything else (padding,
 * `+`, `/`, spaces) is refused. A list of values (the auth server passes one when a request
 * carries two Authorization headers) is refused whatever it holds: ambiguous, never pick one.
 */
const BEARER = /^Bearer +([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/i;
const SCHEME = /^Bearer( |$)/i;
/** What a caller must send, for the messages. */
const EXPECTED = "Authorization: Bearer <access token>";

export type BearerResult =
  { ok: true; token: string } | { ok: false; reason: "TOKEN_MISSING" | "TOKEN_INVALID"; message: string };

export function parseBearer(header: string | readonly string[] | undefined | null): BearerResult {
  if (header === undefined || header === null || header === "")
    return { ok: false, reason: "TOKEN_MISSING", message: "no access token" };
  if (typeof header !== "string") {
    const message = header.length > 1 ? "more than one Authorization header" : "Authorization must be one header value";
    return { ok: false, reason: "TOKEN_INVALID", message };
  }
  const match = BEARER.exec(header);
  if (match?.[1]) return { ok: true, token: match[1] };
  return { ok: false, reason: "TOKEN_INVALID", message: refusal(header) };
}

/** Why a single Authorization value was refused: the scheme, or the token after it (never echoed). */
function refusal(header: string): string {
  if (!SCHEME.test(header)) return `the Authorization scheme is not Bearer: send '${EXPECTED}'`;
  if (header.slice("Bearer".length).trim() === "") return `the bearer token is empty: send '${EXPECTED}'`;
  return "the bearer token is malformed: an access token is three base64url segments (header.payload.signature)";
}
