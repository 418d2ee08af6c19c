import type { AccessTokenClaims } from "@warden/contracts";

interface Entry {
  /** The whole token: an entry is found by its signature's end and answers only the exact same string. */
  token: string;
  claims: AccessTokenClaims;
  /** Until when the verdict may be reused (exp plus the checker's clock tolerance), epoch ms. */
  untilMs: number;
}

/**
 * Verified tokens by exact string until their exp, so a token seen before costs a Map lookup
 * instead of a signature check. Bounded: when full, expired entries and then the oldest go first.
 * Only the signature and claims verdict is cached; revocation and expiry are checked every time.
 *
 * Entries are found by the token's last characters, the end of its signature (a few dozen
 * characters to hash instead of a few hundred: the token arrives as a new string with every
 * request), and answer only when the whole token is the same string, so a signature pasted onto
 * another header or payload is a miss.
 */
export class VerifiedTokenCache {
  private readonly entries = new Map<string, Entry>();

  constructor(readonly maxSize: number) {}

  get size(): number {
    return this.entries.size;
  }

  get(token: string, nowMs: number): AccessTokenClaims | undefined {
    const key = keyOf(token);
    const entry = this.entries.get(key);
    if (entry === undefined || entry.token !== token) return undefined;
    if (entry.untilMs > nowMs) return entry.claims;
    this.entries.delete(key);
    return undefined;
  }

  set(token: string, claims: AccessTokenClaims, untilMs: number, nowMs: number): void {
    if (untilMs <= nowMs) return;
    if (this.entries.size >= this.maxSize) this.evict(nowMs);
    this.entries.set(keyOf(token), { token, claims, untilMs });
  }

  clear(): void {
    this.entries.clear();
  }

  /** Drops a few entries from the oldest end: expired ones, and at least one. */
  private evict(nowMs: number): void {
    let dropped = 0;
    for (const [key, entry] of this.entries) {
      if (dropped >= 1 && entry.untilMs > nowMs) break;
      this.entries.delete(key);
      if (++dropped >= 64) break;
    }
  }
}

/**
 * The key of a token's entry: its last 43 characters, all of an HS256 signature and the second half
 * of an ES256 one, cut without searching the token for its last dot. Tokens that end alike (a
 * forged one copying a real one's end) share a key, not an answer: the entry answers only its own
 * token, and only a verified token is ever stored.
 */
const KEY_CHARS = 43;

function keyOf(token: string): string {
  return token.length > KEY_CHARS ? token.slice(token.length - KEY_CHARS) : token;
}
