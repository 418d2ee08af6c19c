import { firstAcceptedIat, issuedBeforeNotBefore, type Clock } from "@warden/access-token";
import { ExpiringIds } from "./expiring-ids.js";

const systemClock: Clock = () => Date.now();

/** How often expired entries are swept out (they are also ignored as soon as they expire). */
const SWEEP_INTERVAL_MS = 30_000;

interface NotBeforeEntry {
  notBefore: number;
  until: number;
}

/**
 * Sessions whose access tokens must be refused, and users whose tokens issued before a
 * not-before must be refused, kept in memory so the check on every protected
 * call costs a hash-table lookup and no network round trip. An entry lives until the last access
 * token of its session has expired, so memory stays bounded by the revocations of one token
 * lifetime; session ids are packed outside the JavaScript heap (expiring-ids.ts).
 */
export class RevocationSet {
  private readonly entries = new ExpiringIds();
  private readonly notBefores = new Map<string, NotBeforeEntry>();
  private readonly clock: Clock;
  private timer: NodeJS.Timeout | undefined;
  private listeners = new Set<(sessionIds: readonly string[]) => void>();
  private notBeforeListeners = new Set<(userId: string) => void>();
  private userChangedListeners = new Set<(userId: string) => void>();

  constructor(options: { clock?: Clock; sweep?: boolean } = {}) {
    this.clock = options.clock ?? systemClock;
    if (options.sweep ?? true) {
      this.timer = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
      this.timer.unref();
    }
  }

  /** Refuse these sessions' access tokens until `until` (epoch ms). */
  add(sessionIds: readonly string[], until: number): void {
    for (const id of sessionIds) this.entries.set(id, until);
    if (sessionIds.length > 0) for (const listener of this.listeners) listener(sessionIds);
  }

  has(sessionId: string): boolean {
    const until = this.entries.get(sessionId);
    return until !== undefined && until > this.clock();
  }

  /** Sessions held (expired ones until the next sweep). */
  get size(): number {
    return this.entries.size;
  }

  /** Users' not-befores held (expired ones until the next sweep). */
  get notBeforeSize(): number {
    return this.notBefores.size;
  }

  /**
   * Refuse this user's access tokens issued before `notBefore` (epoch ms, a role change or a
   * lock), until `until` (when every such token has expired). The latest not-before wins.
   */
  addNotBefore(userId: string, notBefore: number, until: number): void {
    const previous = this.notBefores.get(userId);
    if (previous && previous.notBefore >= notBefore && previous.until >= until) return;
    this.notBefores.set(userId, {
      notBefore: Math.max(notBefore, previous?.notBefore ?? notBefore),
      until: Math.max(until, previous?.until ?? until),
    });
    for (const listener of this.notBeforeListeners) listener(userId);
  }

  /** This user's not-before (epoch ms), while it still applies. */
  notBefore(userId: string): number | undefined {
    const entry = this.notBefores.get(userId);
    if (entry === undefined) return undefined;
    if (entry.until > this.clock()) return entry.notBefore;
    this.notBefores.delete(userId);
    return undefined;
  }

  /** The first `iat` (seconds) this user's tokens may carry, or undefined when no not-before applies. */
  firstAcceptedIat(userId: string): number | undefined {
    const notBefore = this.notBefore(userId);
    return notBefore === undefined ? undefined : firstAcceptedIat(notBefore);
  }

  /** True when a token of this user issued at `iat` (seconds) predates the user's not-before. */
  issuedBeforeNotBefore(userId: string, iat: number): boolean {
    return issuedBeforeNotBefore(iat, this.notBefore(userId));
  }

  /** Called with the user id of every new not-before (used to drop caches tied to the user). */
  onNotBefore(listener: (userId: string) => void): () => void {
    this.notBeforeListeners.add(listener);
    return () => this.notBeforeListeners.delete(listener);
  }

  /** Called with the session ids of every addition (used to drop caches tied to them). */
  onAdd(listener: (sessionIds: readonly string[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * A user's account changed in a way cached views of it show (a verified email): nothing is
   * refused, listeners drop what they hold of the user.
   */
  userChanged(userId: string): void {
    for (const listener of this.userChangedListeners) listener(userId);
  }

  onUserChanged(listener: (userId: string) => void): () => void {
    this.userChangedListeners.add(listener);
    return () => this.userChangedListeners.delete(listener);
  }

  sweep(): void {
    const now = this.clock();
    this.entries.sweep(now);
    for (const [userId, entry] of this.notBefores) if (entry.until <= now) this.notBefores.delete(userId);
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.listeners.clear();
    this.notBeforeListeners.clear();
    this.userChangedListeners.clear();
  }
}
