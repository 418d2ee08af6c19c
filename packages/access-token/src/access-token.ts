import type { AccessTokenClaims, Role } from "@warden/contracts";
import type { VerifiedTokenCache } from "./cache.js";
import { checkSignatureAndClaims, type SignatureCheckOptions } from "./check.js";
import { issuedBeforeNotBefore } from "./not-before.js";

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

/** What this process knows of revocations (a `RevocationSet` is one). */
export interface RevocationLookup {
  /** The session is revoked: its tokens are refused whatever their exp. */
  has(sessionId: string): boolean;
  /** The user's not-before (epoch ms, a role change or a lock), if one applies. */
  notBefore(userId: string): number | undefined;
}

export type AccessTokenReason = "TOKEN_INVALID" | "SESSION_REVOKED" | "TOKEN_EXPIRED";

export interface Refusal {
  ok: false;
  reason: AccessTokenReason;
  message: string;
  /** The kid names no key we hold: a JWKS user may refetch and try again. */
  unknownKid?: true;
}

export type AccessTokenVerdict = { ok: true; claims: AccessTokenClaims } | Refusal;

export interface AccessTokenCheckOptions extends SignatureCheckOptions {
  revocations?: RevocationLookup;
  /** Remembers signature-and-claims verdicts by exact token string until exp. */
  cache?: VerifiedTokenCache;
}

const REVOKED: Refusal = { ok: false, reason: "SESSION_REVOKED", message: "session revoked" };
const STALE: Refusal = { ok: false, reason: "TOKEN_EXPIRED", message: "access token issued before its user's not-before" };
const EXPIRED: Refusal = { ok: false, reason: "TOKEN_EXPIRED", message: "access token expired" };

/**
 * Revocation, then expiry: SPEC's order, for claims whose signature already holds. A token issued
 * before its user's not-before counts as expired, so the client renews and gets the current role.
 */
export function admitAccessToken(
  claims: AccessTokenClaims,
  options: Pick<AccessTokenCheckOptions, "revocations" | "clockToleranceSec">,
  nowMs: number,
): Refusal | undefined {
  const revocations = options.revocations;
  if (revocations) {
    if (revocations.has(claims.sid)) return REVOKED;
    if (issuedBeforeNotBefore(claims.iat, revocations.notBefore(claims.sub))) return STALE;
  }
  if ((claims.exp + (options.clockToleranceSec ?? 0)) * 1000 <= nowMs) return EXPIRED;
  return undefined;
}

/**
 * The one access-token check, used by the auth server and @warden/verifier alike, so a token gets
 * the same verdict and the same reason wherever it is presented. SPEC's order: signature and
 * claims (TOKEN_INVALID; remembered per token string when a cache is given), then revocation
 * (SESSION_REVOKED), then expiry and the per-user not-before (TOKEN_EXPIRED). The cache is a
 * branch inside this path, not a second path beside it.
 */
export function checkAccessToken(options: AccessTokenCheckOptions, token: string, nowMs: number): AccessTokenVerdict {
  const toleranceMs = (options.clockToleranceSec ?? 0) * 1000;
  let claims = options.cache?.get(token, nowMs);
  if (claims === undefined) {
    const verdict = checkSignatureAndClaims(options, token, nowMs);
    if (!verdict.ok) return verdict;
    claims = verdict.claims;
    options.cache?.set(token, claims, claims.exp * 1000 + toleranceMs, nowMs);
  }
  return admitAccessToken(claims, options, nowMs) ?? { ok: true, claims };
}
