import { createHmac, randomUUID, sign, type KeyObject } from "node:crypto";
import { P256_ORDER, checkAccessToken, hasLowS, issuedAt, type RevocationLookup } from "@warden/access-token";
import { ACCESS_TOKEN_TYPE, type AccessTokenClaims, type Role } from "@warden/contracts";
import type { Auth } from "./context.js";
import { AuthError } from "./errors.js";
import type { JwtKey, KeyRing } from "./keys.js";

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
 * Signs a JWS compact token with node:crypto, the primitives the check (@warden/access-token)
 * verifies with. `userNotBefore` (epoch ms): the user's not-before known to this process; the
 * token then carries the first `iat` the check accepts (`issuedAt`), else one signed in the same
 * second as a role change would be refused with the tokens it replaces.
 */
export function signAccessToken(
  keys: KeyRing,
  settings: TokenSettings,
  subject: AccessTokenSubject,
  now: number,
  userNotBefore?: number,
): SignedAccessToken {
  const iat = issuedAt(now, userNotBefore);
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
  const input = `${encodedHeaderOf(keys.current)}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}`;
  const signature = signatureOf(keys.current.alg, keys.current.signingKey, input);
  return { token: `${input}.${signature.toString("base64url")}`, expiresAt: exp * 1000 };
}

/** The protected header of a key's tokens, encoded once per key. */
const encodedHeaders = new WeakMap<JwtKey, string>();
function encodedHeaderOf(key: JwtKey): string {
  let encoded = encodedHeaders.get(key);
  if (encoded === undefined) {
    encoded = Buffer.from(JSON.stringify({ alg: key.alg, typ: ACCESS_TOKEN_TYPE, kid: key.kid })).toString("base64url");
    encodedHeaders.set(key, encoded);
  }
  return encoded;
}

/** ES256: r || s, 32 bytes each (JWS's form, not DER), with the low s; HS256: the HMAC. */
function signatureOf(alg: JwtKey["alg"], key: KeyObject, input: string): Buffer {
  if (alg === "HS256") return createHmac("sha256", key).update(input).digest();
  return withLowS(sign("sha256", Buffer.from(input), { key, dsaEncoding: "ieee-p1363" }));
}

/**
 * ECDSA signatures are malleable: (r, s) and (r, n - s) both verify, so one token could travel
 * as two strings. Warden signs with the low s only and the check refuses the high twin, so each
 * token has exactly one valid spelling (caches and logs keyed by the string see one token).
 */
function withLowS(signature: Buffer): Buffer {
  if (hasLowS(signature)) return signature;
  const low = P256_ORDER - BigInt(`0x${signature.subarray(32).toString("hex")}`);
  Buffer.from(low.toString(16).padStart(64, "0"), "hex").copy(signature, 32);
  return signature;
}

export interface VerifyOptions {
  now: number;
  /** Revoked sessions and per-user not-befores; absent, only signature, claims and expiry count. */
  revocations?: RevocationLookup;
  /** Seconds of leeway on exp and nbf for clocks that disagree a little (default 0 on the server). */
  clockToleranceSec?: number;
}

/**
 * `checkAccessToken` with this key ring, as an AuthError: signature and claims (TOKEN_INVALID),
 * then revocation (SESSION_REVOKED), then the user's not-before and expiry (TOKEN_EXPIRED).
 */
export function verifyAccessToken(
  keys: KeyRing,
  settings: Pick<TokenSettings, "issuer" | "audience">,
  token: string,
  options: VerifyOptions,
): AccessTokenClaims {
  const verdict = checkAccessToken(
    {
      keys: keys.lookup,
      expected: settings,
      ...(options.revocations ? { revocations: options.revocations } : {}),
      ...(options.clockToleranceSec ? { clockToleranceSec: options.clockToleranceSec } : {}),
    },
    token,
    options.now,
  );
  if (!verdict.ok) throw new AuthError(verdict.reason, verdict.message);
  return verdict.claims;
}

/**
 * The protected-call check of this process: its key ring, its revocation set (revoked sessions
 * and per-user not-befores) and its verified-token cache, so a token seen before costs a Map
 * lookup; revocation and expiry are still checked on every call.
 */
export function verifyAccessTokenCached(auth: Auth, token: string): AccessTokenClaims {
  const verdict = checkAccessToken(
    { keys: auth.keys.lookup, expected: auth.settings, revocations: auth.revocations, cache: auth.tokenCache },
    token,
    auth.clock(),
  );
  if (!verdict.ok) throw new AuthError(verdict.reason, verdict.message);
  return verdict.claims;
}
