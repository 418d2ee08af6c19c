/** Epoch milliseconds. */
export type Clock = () => number;
const systemClock: Clock = () => Date.now();

/** How often expired entries are swept out (they are also ignored as soon as they expire). */
const SWEEP_INTERVAL_MS = 30_000;

/**
 * Sessions whose access tokens must be refused, kept in memory so the check on every protected
 * call costs a Map lookup and no network round trip. An entry lives until the last access token
 * of its session has expired, so memory stays bounded by the revocations of one token lifetime.
 */
export class RevocationSet {
  private readonly entries = new Map<string, number>();
  private readonly clock: Clock;
  private timer: NodeJS.Timeout | undefined;
  private listeners = new Set<(sessionIds: readonly string[]) => void>();

  constructor(options: { clock?: Clock; sweep?: boolean } = {}) {
    this.clock = options.clock ?? systemClock;
    if (options.sweep ?? true) {
      this.timer = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
      this.timer.unref();
    }
  }

  /** Refuse these sessions' access tokens until `until` (epoch ms). */
  add(sessionIds: readonly string[], until: number): void {
    for (const id of sessionIds) {
      const previous = this.entries.get(id);
      if (previous === undefined || previous < until) this.entries.set(id, until);
    }
    if (sessionIds.length > 0) for (const listener of this.listeners) listener(sessionIds);
  }

  has(sessionId: string): boolean {
    const until = this.entries.get(sessionId);
    if (until === undefined) return false;
    if (until > this.clock()) return true;
    this.entries.delete(sessionId);
    return false;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Called with the session ids of every addition (used to drop caches tied to them). */
  onAdd(listener: (sessionIds: readonly string[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  sweep(): void {
    const now = this.clock();
    for (const [id, until] of this.entries) if (until <= now) this.entries.delete(id);
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.listeners.clear();
  }
}
