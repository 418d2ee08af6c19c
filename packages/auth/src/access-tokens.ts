import { randomUUID } from "node:crypto";
import { ACCESS_TOKEN_TYPE, ROLES, type AccessTokenClaims, type Role } from "@warden/contracts";
import jwt from "jsonwebtoken";
import { AuthError } from "./errors.js";
import type { KeyRing } from "./keys.js";

export interface TokenSettings {
  issuer: string;
  audience: string;
  accessTokenTtlMs: number;
}

export interface AccessTokenSubject {
  userId: string;
  sessionId: string;
  role: Role;
}

export interface SignedAccessToken {
  token: string;
  /** Epoch milliseconds. */
  expiresAt: number;
}

/**
 * `minIat` (seconds): the first issue time the user's tokens may carry after a not-before known
 * to this process (see `firstAcceptedIat` in @warden/verifier): a token signed in the same second
 * as a role change would otherwise be refused with the tokens it replaces.
 */
export function signAccessToken(
  keys: KeyRing,
  settings: TokenSettings,
  subject: AccessTokenSubject,
  now: number,
  minIat?: number,
): SignedAccessToken {
  const iat = Math.max(Math.floor(now / 1000), minIat ?? 0);
  const exp = Math.floor((now + settings.accessTokenTtlMs) / 1000);
  const claims: AccessTokenClaims = {
    iss: settings.issuer,
    aud: settings.audience,
    sub: subject.userId,
    sid: subject.sessionId,
    jti: randomUUID(),
    iat,
    exp,
    role: subject.role,
  };
  const signed = jwt.sign(claims, keys.current.signingKey, {
    algorithm: keys.current.alg,
    keyid: keys.current.kid,
    header: { alg: keys.current.alg, typ: ACCESS_TOKEN_TYPE },
  });
  const token = keys.current.alg === "ES256" ? withLowS(signed) : signed;
  return { token, expiresAt: exp * 1000 };
}

/**
 * ECDSA signatures are malleable: (r, s) and (r, n - s) both verify, so one token could travel
 * as two strings. Warden signs with the low s only and refuses the high twin, so each token has
 * exactly one valid spelling (caches and logs keyed by the string see one token).
 */
const P256_ORDER = BigInt("0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
const P256_HALF_ORDER = Buffer.from((P256_ORDER >> 1n).toString(16).padStart(64, "0"), "hex");
const ES256_SIGNATURE_BYTES = 64;

function withLowS(token: string): string {
  const dot = token.lastIndexOf(".");
  const signature = Buffer.from(token.slice(dot + 1), "base64url");
  const s = signature.subarray(32);
  if (Buffer.compare(s, P256_HALF_ORDER) <= 0) return token;
  const lowS = Buffer.from((P256_ORDER - BigInt(`0x${s.toString("hex")}`)).toString(16).padStart(64, "0"), "hex");
  return `${token.slice(0, dot + 1)}${Buffer.concat([signature.subarray(0, 32), lowS]).toString("base64url")}`;
}

/** Exactly 64 bytes (IEEE P1363, not DER), canonical base64url, low s. */
function isCanonicalEs256Signature(token: string): boolean {
  const text = token.slice(token.lastIndexOf(".") + 1);
  const signature = Buffer.from(text, "base64url");
  return (
    signature.length === ES256_SIGNATURE_BYTES &&
    signature.toString("base64url") === text &&
    Buffer.compare(signature.subarray(32), P256_HALF_ORDER) <= 0
  );
}

/** Longest token we bother to parse; real ones are ~450 bytes. */
const MAX_TOKEN_LENGTH = 4096;
const MAX_KID_LENGTH = 128;

export interface VerifyOptions {
  now: number;
  /** Consulted after the signature and claims check, before expiry (SPEC's order). */
  isSessionRevoked?: (sessionId: string, claims: AccessTokenClaims) => boolean;
  /**
   * Consulted after revocation, before expiry: true when the token predates its user's not-before
   * (a role change or a lock). Such a token is refused as TOKEN_EXPIRED, so the client renews.
   */
  isIssuedBeforeNotBefore?: (claims: AccessTokenClaims) => boolean;
  /** Seconds of leeway on exp for clocks that disagree a little (default 0 on the server). */
  clockToleranceSec?: number;
}

/**
 * Checks an access token: signature and claims (TOKEN_INVALID), then revocation
 * (SESSION_REVOKED), then expiry (TOKEN_EXPIRED). Never trusts the header's algorithm: the
 * algorithm comes from the key the kid names.
 */
export function verifyAccessToken(
  keys: KeyRing,
  settings: Pick<TokenSettings, "issuer" | "audience">,
  token: string,
  options: VerifyOptions,
): AccessTokenClaims {
  if (token.length > MAX_TOKEN_LENGTH) throw new AuthError("TOKEN_INVALID", "access token too long");
  const decoded = jwt.decode(token, { complete: true });
  if (!decoded || typeof decoded.payload === "string") throw new AuthError("TOKEN_INVALID", "malformed access token");
  const header = decoded.header as jwt.JwtHeader & Record<string, unknown>;
  if (header.typ !== ACCESS_TOKEN_TYPE) throw new AuthError("TOKEN_INVALID", "not an access token");
  if (header.crit !== undefined) throw new AuthError("TOKEN_INVALID", "unsupported critical header");
  const kid = header.kid;
  if (typeof kid !== "string" || kid.length > MAX_KID_LENGTH) throw new AuthError("TOKEN_INVALID", "unknown key");
  const key = keys.byKid.get(kid);
  if (!key || header.alg !== key.alg) throw new AuthError("TOKEN_INVALID", "unknown key");
  if (key.alg === "ES256" && !isCanonicalEs256Signature(token)) throw new AuthError("TOKEN_INVALID", "non-canonical signature");

  let payload: jwt.JwtPayload;
  try {
    payload = jwt.verify(token, key.verifyKey, {
      algorithms: [key.alg],
      issuer: settings.issuer,
      audience: settings.audience,
      ignoreExpiration: true,
      clockTimestamp: Math.floor(options.now / 1000),
    }) as jwt.JwtPayload;
  } catch {
    throw new AuthError("TOKEN_INVALID", "access token signature or claims invalid");
  }
  const claims = checkClaims(payload);
  if (options.isSessionRevoked?.(claims.sid, claims)) throw new AuthError("SESSION_REVOKED", "session revoked");
  if (options.isIssuedBeforeNotBefore?.(claims)) throw new AuthError("TOKEN_EXPIRED", "access token issued before its user's not-before");
  const tolerance = options.clockToleranceSec ?? 0;
  if (claims.exp + tolerance <= options.now / 1000) throw new AuthError("TOKEN_EXPIRED", "access token expired");
  return claims;
}

function checkClaims(payload: jwt.JwtPayload): AccessTokenClaims {
  const { sub, sid, jti, iat, exp, role, iss, aud } = payload as Record<string, unknown>;
  const ok =
    typeof sub === "string" &&
    typeof sid === "string" &&
    typeof jti === "string" &&
    typeof iss === "string" &&
    typeof aud === "string" &&
    Number.isInteger(iat) &&
    Number.isInteger(exp) &&
    (ROLES as readonly unknown[]).includes(role);
  if (!ok) throw new AuthError("TOKEN_INVALID", "access token claims missing or malformed");
  return payload as AccessTokenClaims;
}
