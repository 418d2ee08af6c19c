import type { AccessTokenClaims, Role } from "@warden/contracts";
import { VerifiedTokenCache } from "./cache.js";
import { admitAccessToken, checkSignatureAndClaims, type AdmitOptions, type ExpectedClaims, type KeyLookup } from "./check.js";

/** Milliseconds since the epoch; injected so expiry and grace windows are tested without sleeping. */
export type Clock = () => number;

/** Who made the request, as a valid access token says. */
export interface Principal {
  userId: string;
  sessionId: string;
  role: Role;
  claims: AccessTokenClaims;
}

export function principalOf(claims: AccessTokenClaims): Principal {
  return { userId: claims.sub, sessionId: claims.sid, role: claims.role, claims };
}

export type AccessTokenReason = "TOKEN_INVALID" | "SESSION_REVOKED" | "TOKEN_EXPIRED";

export type AccessTokenVerdict =
  | { ok: true; claims: AccessTokenClaims }
  | { ok: false; reason: AccessTokenReason; message: string; unknownKid?: true };

export interface AccessTokenCheckOptions extends Omit<AdmitOptions, "nowMs"> {
  keys: KeyLookup;
  expected: ExpectedClaims;
  /** Remembers signature-and-claims verdicts by exact token string until exp. */
  cache?: VerifiedTokenCache;
}

const MESSAGES = {
  SESSION_REVOKED: "session revoked",
  TOKEN_EXPIRED: "access token expired",
} as const;

/**
 * The whole check in SPEC's order: signature and claims (TOKEN_INVALID; remembered per token
 * string when a cache is given), then revocation (SESSION_REVOKED), then expiry and per-user
 * not-before (TOKEN_EXPIRED). A cache is a branch inside this path, not a second path beside it.
 */
export function checkAccessToken(options: AccessTokenCheckOptions, token: string, nowMs: number): AccessTokenVerdict {
  let claims = options.cache?.get(token);
  if (!claims) {
    const verdict = checkSignatureAndClaims(token, options.keys, options.expected, nowMs);
    if (!verdict.ok) return verdict;
    claims = verdict.claims;
    options.cache?.set(token, claims, nowMs);
  }
  const refused = admitAccessToken(claims, { ...options, nowMs });
  return refused ? { ok: false, reason: refused, message: MESSAGES[refused] } : { ok: true, claims };
}
