import { createHash, createHmac, randomFillSync, timingSafeEqual } from "node:crypto";

/**
 * Bytes from the CSPRNG, drawn a page at a time (as node:crypto's randomUUID does): one system
 * call per 4 KiB instead of one per token or salt. Each byte is handed out once and wiped from the
 * page as it goes, so the page never holds a token already issued.
 */
const RANDOM_PAGE_BYTES = 4096;
let randomPage = Buffer.alloc(0);
let randomOffset = 0;

function randomBase64url(bytes: number): string {
  if (randomOffset + bytes > randomPage.length) {
    randomPage = randomFillSync(Buffer.allocUnsafeSlow(RANDOM_PAGE_BYTES));
    randomOffset = 0;
  }
  const encoded = randomPage.toString("base64url", randomOffset, randomOffset + bytes);
  randomPage.fill(0, randomOffset, randomOffset + bytes);
  randomOffset += bytes;
  return encoded;
}

/** 256 bits from the CSPRNG, base64url: the refresh token handed to the client. */
export function generateRefreshToken(): string {
  return randomBase64url(32);
}

/** Only this digest is stored: a database leak yields no usable refresh token. */
export function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/** 128 bits from the CSPRNG, chosen at each rotation and kept in the parent's row (successor_salt). */
export function generateSuccessorSalt(): string {
  return randomBase64url(16);
}

/**
 * The successor of a refresh token: HMAC(refresh key, salt || parent). A retry within the grace
 * window recomputes the very same successor from the salt in the parent's row, so the successor
 * is never stored in clear. The salt lives only in the database: a refresh token plus every
 * server key is not enough to compute what follows it.
 */
export function deriveSuccessorToken(key: Buffer, salt: string, parentToken: string): string {
  return createHmac("sha256", key)
    .update("warden-refresh-successor\0")
    .update(salt)
    .update("\0")
    .update(parentToken)
    .digest("base64url");
}

/**
 * The successor a rotation produced, recomputed under each refresh key in turn (current first,
 * then those from before a data-key rotation) and recognised by the hash stored in its row.
 */
export function recomputeSuccessorToken(
  keys: Buffer[],
  salt: string,
  parentToken: string,
  successorHash: string,
): string | undefined {
  for (const key of keys) {
    const candidate = deriveSuccessorToken(key, salt, parentToken);
    if (safeEqual(hashToken(candidate), successorHash)) return candidate;
  }
  return undefined;
}

export function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}
