import type { AccessTokenClaims } from "@warden/contracts";

interface Entry {
  claims: AccessTokenClaims;
  /** Until when the verdict may be reused (exp plus the checker's clock tolerance), epoch ms. */
  untilMs: number;
}

/**
 * Verified tokens by exact string until their exp, so a token seen before costs a Map lookup
 * instead of a signature check. Bounded: when full, expired entries and then the oldest go first.
 * Only the signature and claims verdict is cached; revocation and expiry are checked every time.
 */
export class VerifiedTokenCache {
  private readonly entries = new Map<string, Entry>();

  constructor(readonly maxSize: number) {}

  get size(): number {
    return this.entries.size;
  }

  get(token: string, nowMs: number): AccessTokenClaims | undefined {
    const entry = this.entries.get(token);
    if (entry === undefined) return undefined;
    if (entry.untilMs > nowMs) return entry.claims;
    this.entries.delete(token);
    return undefined;
  }

  set(token: string, claims: AccessTokenClaims, untilMs: number, nowMs: number): void {
    if (untilMs <= nowMs) return;
    if (this.entries.size >= this.maxSize) this.evict(nowMs);
    this.entries.set(token, { claims, untilMs });
  }

  clear(): void {
    this.entries.clear();
  }

  /** Drops a few entries from the oldest end: expired ones, and at least one. */
  private evict(nowMs: number): void {
    let dropped = 0;
    for (const [token, entry] of this.entries) {
      if (dropped >= 1 && entry.untilMs > nowMs) break;
      this.entries.delete(token);
      if (++dropped >= 64) break;
    }
  }
}
