import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/** 256 bits from the CSPRNG, base64url: the refresh token handed to the client. */
export function generateRefreshToken(): string {
  return randomBytes(32).toString("base64url");
}

/** Only this digest is stored: a database leak yields no usable refresh token. */
export function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/**
 * The successor of a refresh token is derived from the token itself under a server key, so a
 * retry within the grace window gets the very same successor without it being stored in clear,
 * and nobody without both the parent token and the key can compute it.
 */
export function deriveSuccessorToken(key: Buffer, parentToken: string): string {
  return createHmac("sha256", key).update("warden-refresh-successor\0").update(parentToken).digest("base64url");
}

export function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}
