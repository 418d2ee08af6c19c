import { createHmac, timingSafeEqual, verify as verifySignature, type KeyObject } from "node:crypto";
import { ACCESS_TOKEN_TYPE, ROLES, type AccessTokenClaims } from "@warden/contracts";

/**
 * Signature and claims: the first step of the one access-token check (see `checkAccessToken`).
 * Pure: keys, token and time in, claims or a reason out.
 */

export const ACCESS_TOKEN_ALGORITHMS = ["ES256", "HS256"] as const;
export type AccessTokenAlgorithm = (typeof ACCESS_TOKEN_ALGORITHMS)[number];

/** A key that verifies access tokens; the key, not the token's header, fixes the algorithm. */
export interface VerificationKey {
  alg: AccessTokenAlgorithm;
  key: KeyObject;
}

/** Finds the key a kid names (a key ring, a JWKS cache, or one fixed key). */
export type KeyLookup = (kid: string) => VerificationKey | undefined;

/** Longest token parsed at all; real ones are ~450 bytes. */
export const MAX_TOKEN_LENGTH = 4096;
export const MAX_KID_LENGTH = 128;

/** Signature length in base64url characters: 64 bytes for ES256 (r||s, IEEE P1363), 32 for HS256. */
const SIGNATURE_CHARS: Record<AccessTokenAlgorithm, number> = { ES256: 86, HS256: 43 };
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/**
 * ECDSA signatures are malleable: (r, s) and (r, n - s) both verify. Only the low s is valid, so
 * every token has exactly one spelling (caches and logs keyed by the string see one token).
 */
export const P256_ORDER = BigInt("0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
const P256_HALF_ORDER = Buffer.from((P256_ORDER >> 1n).toString(16).padStart(64, "0"), "hex");

/** Whether an ES256 signature (r || s, JWS's form) carries the low s: the only spelling accepted. */
export function hasLowS(signature: Buffer): boolean {
  return Buffer.compare(signature.subarray(32), P256_HALF_ORDER) <= 0;
}

export interface ExpectedClaims {
  issuer: string;
  audience: string;
}

export interface SignatureCheckOptions {
  keys: KeyLookup;
  expected: ExpectedClaims;
  /** Seconds of leeway on exp and nbf for clocks that disagree a little (0 on the server). */
  clockToleranceSec?: number;
}

type InvalidVerdict = {
  ok: false;
  reason: "TOKEN_INVALID";
  message: string;
  /** The kid names no key we hold: a JWKS user may refetch and try again. */
  unknownKid?: true;
};
export type SignatureVerdict = { ok: true; claims: AccessTokenClaims } | InvalidVerdict;

function invalid(message: string): InvalidVerdict {
  return { ok: false, reason: "TOKEN_INVALID", message };
}

/** Canonical unpadded base64url only: a segment decodes to bytes that re-encode to itself. */
function decodeSegment(segment: string): Buffer | undefined {
  if (!BASE64URL.test(segment)) return undefined;
  const bytes = Buffer.from(segment, "base64url");
  return bytes.toString("base64url") === segment ? bytes : undefined;
}

function decodeObject(segment: string): Record<string, unknown> | undefined {
  const bytes = decodeSegment(segment);
  if (!bytes) return undefined;
  try {
    const value: unknown = JSON.parse(bytes.toString("utf8"));
    return value && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function signatureMatches(key: VerificationKey, signingInput: Buffer, signature: Buffer): boolean {
  if (key.alg === "ES256") {
    if (!hasLowS(signature)) return false;
    return verifySignature("sha256", signingInput, { key: key.key, dsaEncoding: "ieee-p1363" }, signature);
  }
  const expected = createHmac("sha256", key.key).update(signingInput).digest();
  return expected.length === signature.length && timingSafeEqual(expected, signature);
}

const isInteger = (v: unknown): v is number => Number.isSafeInteger(v);

/** The claims Warden issues, with the types it issues them in; anything else is not ours. */
function checkClaims(
  payload: Record<string, unknown>,
  expected: ExpectedClaims,
  latestNbfMs: number,
): AccessTokenClaims | string {
  const { iss, aud, sub, sid, jti, iat, exp, nbf, role } = payload;
  if (iss !== expected.issuer) return "wrong issuer";
  // One audience, as a string: an array is refused even when it contains ours.
  if (aud !== expected.audience) return "wrong audience";
  if (typeof sub !== "string" || typeof sid !== "string" || typeof jti !== "string") return "access token claims missing";
  if (!isInteger(iat) || !isInteger(exp)) return "iat and exp must be integers";
  if (!(ROLES as readonly unknown[]).includes(role)) return "unknown role";
  if (nbf !== undefined && (!isInteger(nbf) || nbf * 1000 > latestNbfMs)) return "token not yet valid";
  return payload as unknown as AccessTokenClaims;
}

/**
 * Signature and claims (TOKEN_INVALID on any failure). Never trusts the header's algorithm: the
 * kid selects a key and the key fixes the algorithm; the header must name that same algorithm.
 * Every segment must be canonical base64url, so a token has exactly one valid spelling.
 */
export function checkSignatureAndClaims(options: SignatureCheckOptions, token: string, nowMs: number): SignatureVerdict {
  if (typeof token !== "string" || token.length === 0) return invalid("no token");
  if (token.length > MAX_TOKEN_LENGTH) return invalid("access token too long");
  const dot1 = token.indexOf(".");
  const dot2 = token.indexOf(".", dot1 + 1);
  if (dot1 <= 0 || dot2 <= dot1 + 1 || dot2 === token.length - 1 || token.indexOf(".", dot2 + 1) !== -1) {
    return invalid("malformed access token");
  }

  const header = decodeObject(token.slice(0, dot1));
  if (!header) return invalid("malformed header");
  if (header.typ !== ACCESS_TOKEN_TYPE) return invalid("not an access token");
  if (header.crit !== undefined) return invalid("unsupported critical header");
  const kid = header.kid;
  if (typeof kid !== "string" || kid.length === 0 || kid.length > MAX_KID_LENGTH) return invalid("unknown key");
  const key = options.keys(kid);
  if (!key) return { ...invalid("unknown key"), unknownKid: true };
  if (header.alg !== key.alg) return invalid("algorithm does not match the key");

  // Decoded before the signature check so the signing input is known to be base64url (one byte
  // per character); its claims are read only once the signature holds.
  const payload = decodeObject(token.slice(dot1 + 1, dot2));
  if (!payload) return invalid("malformed payload");
  const signatureText = token.slice(dot2 + 1);
  if (signatureText.length !== SIGNATURE_CHARS[key.alg]) return invalid("malformed signature");
  const signature = decodeSegment(signatureText);
  if (!signature) return invalid("malformed signature");
  if (!signatureMatches(key, Buffer.from(token.slice(0, dot2), "latin1"), signature)) return invalid("bad signature");

  const claims = checkClaims(payload, options.expected, nowMs + (options.clockToleranceSec ?? 0) * 1000);
  return typeof claims === "string" ? invalid(claims) : { ok: true, claims };
}
