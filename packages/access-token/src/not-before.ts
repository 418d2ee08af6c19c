/**
 * The per-user not-before rule (a role change or a lock): every check and every signer uses these,
 * so a renewed token is accepted wherever a stale one is refused.
 */

/**
 * How long a role read before a role change may still be signed into a token: a login reads the
 * role, then spends an argon2 verification before signing; a refresh reads it in the statement
 * that rotates. Tokens issued up to this long after the not-before are refused too.
 */
export const NOT_BEFORE_MARGIN_MS = 2_000;

/**
 * The first `iat` (seconds) a user's access tokens may carry after a not-before (epoch ms).
 *
 * `iat` has one-second resolution, the not-before milliseconds. Rounding the not-before up to the
 * next whole second refuses every token issued before it, including earlier in the same second
 * (their `iat` is that second, floored). The margin widens this to tokens signed shortly after
 * with a role read before the change. A signer that knows the not-before issues `iat` at least
 * this second (a few seconds ahead at most), so the renewed token is accepted at once; a signer
 * that has not heard of it yet issues tokens refused only until its clock reaches that second.
 */
export function firstAcceptedIat(notBeforeMs: number): number {
  return Math.ceil((notBeforeMs + NOT_BEFORE_MARGIN_MS) / 1000);
}

/** A token issued at `iatSec` predates the user's not-before: refused as TOKEN_EXPIRED. */
export function issuedBeforeNotBefore(iatSec: number, notBeforeMs: number | undefined): boolean {
  return notBeforeMs !== undefined && iatSec < firstAcceptedIat(notBeforeMs);
}

/** The `iat` a signer gives a token issued now for a user with this not-before (if any). */
export function issuedAt(nowMs: number, notBeforeMs: number | undefined): number {
  const iat = Math.floor(nowMs / 1000);
  return notBeforeMs === undefined ? iat : Math.max(iat, firstAcceptedIat(notBeforeMs));
}
