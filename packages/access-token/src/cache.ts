import type { AccessTokenClaims } from "@warden/contracts";

/**
 * Verified tokens by exact string until their exp, so a token seen before costs a Map lookup
 * instead of a signature check. Bounded: when full, expired entries and then the oldest go first.
 * Only the signature and claims verdict is cached; revocation and expiry are checked every time.
 */
export class VerifiedTokenCache {
  private readonly entries = new Map<string, AccessTokenClaims>();

  constructor(readonly maxSize: number) {}

  get size(): number {
    return this.entries.size;
  }

  get(token: string): AccessTokenClaims | undefined {
    return this.entries.get(token);
  }

  set(token: string, claims: AccessTokenClaims, nowMs: number): void {
    if (claims.exp * 1000 <= nowMs) return;
    if (this.entries.size >= this.maxSize) this.evict(nowMs);
    this.entries.set(token, claims);
  }

  delete(token: string): void {
    this.entries.delete(token);
  }

  clear(): void {
    this.entries.clear();
  }

  /** Drops a few entries from the oldest end: expired ones, and at least one. */
  private evict(nowMs: number): void {
    let dropped = 0;
    for (const [token, claims] of this.entries) {
      if (dropped >= 1 && claims.exp * 1000 > nowMs) break;
      this.entries.delete(token);
      if (++dropped >= 64) break;
    }
  }
}
