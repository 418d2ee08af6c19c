import type { RevocationSet } from "@warden/revocations";
import { BoundedCache } from "./bounded-cache.js";
import type { Auth } from "./context.js";
import { getCurrentSession, type CurrentSession } from "./sessions.js";

/**
 * A session row is reused this long (SESSION_CACHE_TTL) unless something evicts it sooner: a
 * revocation, a user's not-before or a change to the user reaching this process. Nothing that
 * decides access waits on it: revocations are checked on every call, before the cache.
 */
export const DEFAULT_SESSION_CACHE_TTL_MS = 60_000;
export const SESSION_CACHE_SIZE = 10_000;
/** Verified access tokens this process remembers (by exact string, until exp). */
export const VERIFIED_TOKEN_CACHE_SIZE = 10_000;

/**
 * The user and session rows behind `auth.me`, kept a few seconds so a protected call with a known
 * session costs no database round trip. Bounded; a revocation or a user's not-before that reaches
 * this process (its own, or from the feed) drops the affected rows at once.
 */
export class SessionCache {
  private readonly rows = new BoundedCache<string, CurrentSession>(SESSION_CACHE_SIZE);
  /** Bumped on every revocation: a row read before it must not be cached after it. */
  private epoch = 0;
  /** Sessions whose row is being read again ahead of its expiry (one read each at a time). */
  private readonly refreshing = new Set<string>();

  constructor(
    revocations: RevocationSet,
    private readonly ttlMs: number = DEFAULT_SESSION_CACHE_TTL_MS,
  ) {
    revocations.onAdd((sessionIds) => {
      this.epoch++;
      for (const id of sessionIds) this.rows.delete(id);
    });
    // A role change or a lock: the user's rows hold the old role or the unlocked state.
    revocations.onNotBefore((userId) => {
      this.epoch++;
      this.rows.deleteWhere((current) => current.user.id === userId);
    });
    // A change another instance made to the user (a verified email): its rows show the old state.
    revocations.onUserChanged((userId) => this.forgetUser(userId));
  }

  /**
   * Drops a user's rows after a change they show (a verified email): this process answers the new
   * state at once; other instances when the change reaches them through the feed (or, with Redis
   * down, after the TTL).
   */
  forgetUser(userId: string): void {
    this.epoch++;
    this.rows.deleteWhere((current) => current.user.id === userId);
  }

  /**
   * The cached row, at once (no promise: `auth.me` answers a cached row without a turn of the
   * event loop), or the one `read` returns, kept for the TTL when it is live and no revocation
   * arrived while it was read.
   */
  get(
    sessionId: string,
    now: number,
    read: () => Promise<CurrentSession | undefined>,
  ): CurrentSession | Promise<CurrentSession | undefined> {
    const entry = this.rows.entry(sessionId, now);
    if (entry === undefined) return this.readAndKeep(sessionId, now, read);
    if (entry.expiresAt - now <= this.refreshAheadMs) this.refreshInBackground(sessionId, now, read);
    return entry.value;
  }

  /**
   * Rows asked for in the last quarter of their TTL are read again in the background while the
   * cached one answers, so an active session's row never expires under its caller: without this,
   * the rows read together (a restart, a burst of logins) expired together, and every call of
   * those sessions then waited on PostgreSQL at once. A row nobody asks for still expires at its
   * TTL, and no row is served past it.
   */
  private get refreshAheadMs(): number {
    return this.ttlMs / 4;
  }

  private refreshInBackground(sessionId: string, now: number, read: () => Promise<CurrentSession | undefined>): void {
    if (this.refreshing.has(sessionId)) return;
    this.refreshing.add(sessionId);
    // A failed read leaves the cached row to expire at its TTL (and the next read to fail closed).
    this.readAndKeep(sessionId, now, read)
      .catch(() => undefined)
      .finally(() => this.refreshing.delete(sessionId));
  }

  private async readAndKeep(
    sessionId: string,
    now: number,
    read: () => Promise<CurrentSession | undefined>,
  ): Promise<CurrentSession | undefined> {
    const epoch = this.epoch;
    const current = await read();
    if (current && !current.revoked && this.epoch === epoch) this.rows.set(sessionId, current, now + this.ttlMs);
    // Gone or revoked in the database: a row cached before must not outlive the news.
    else this.rows.delete(sessionId);
    return current;
  }
}

/**
 * getCurrentSession, answered from memory for the TTL unless the session is revoked meanwhile.
 * A bounded, revocation-aware read cache, also while PostgreSQL is down: within the TTL a session
 * read before the outage still answers (a revocation reaching this process refuses it, as ever),
 * and after the TTL the read fails closed with UNAVAILABLE. Never serves a row older than the TTL.
 */
export function getCurrentSessionCached(auth: Auth, sessionId: string): CurrentSession | Promise<CurrentSession | undefined> {
  return auth.sessionCache.get(sessionId, auth.clock(), () => getCurrentSession(auth, sessionId));
}
