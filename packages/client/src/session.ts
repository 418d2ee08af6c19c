import { COOKIE_HEADER } from "@warden/contracts/headers";
import type { SessionEndingReason, TokenPair } from "@warden/contracts";
import { errorFromBody, isSessionEndingReason, toWardenError, WardenError, WardenSessionEndedError } from "./errors.js";
import { readSessionId, readTimes, toStoredTokens, type StoredTokens, type TokenStore } from "./tokens.js";

export interface SessionOptions {
  url: string;
  store: TokenStore;
  refreshMarginMs: number;
  fetch: typeof globalThis.fetch;
  headers: Record<string, string>;
  now: () => number;
  /** Longest wait for the refresh call (default 10 s), so a renewal never hangs its waiters. */
  refreshTimeoutMs: number;
}

export interface SessionEndedEvent {
  reason: SessionEndingReason;
  sessionId: string | undefined;
}

/**
 * The tokens of one store and their renewal: at most one renewal in flight (every concurrent
 * caller awaits the same promise), serialised across tabs/processes by the store's lock, and
 * the store re-read under that lock so a renewal another process made is reused, not repeated
 * (repeating it would present a rotated refresh token: theft detection).
 */
export class Session {
  private current: StoredTokens | null = null;
  private renewal: Promise<StoredTokens> | undefined;
  private ended: WardenSessionEndedError | undefined;
  private readonly listeners = new Set<(event: SessionEndedEvent) => void>();
  /** Server clock minus ours, learnt from `iat` of tokens we receive. */
  private skewMs = 0;

  constructor(readonly options: SessionOptions) {}

  get cookieMode(): boolean {
    return this.options.store.mode === "cookie";
  }

  onEnded(listener: (event: SessionEndedEvent) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  /** Set when the session ended: every authenticated call fails fast with it until the next sign-in. */
  get endedError(): WardenSessionEndedError | undefined {
    return this.ended;
  }

  /** Cached in memory; while there are none, the store is read again (another process may sign in). */
  async tokens(): Promise<StoredTokens | null> {
    if (!this.current) this.current = await this.options.store.get();
    return this.current;
  }

  /** Tokens just received from signup/login: a new session starts. */
  async start(pair: TokenPair, user: StoredTokens["user"]): Promise<StoredTokens> {
    const stored = toStoredTokens(pair, user, this.cookieMode);
    this.learnSkew(stored.accessToken);
    await this.options.store.set(stored);
    this.current = stored;
    this.ended = undefined;
    return stored;
  }

  async clear(): Promise<void> {
    this.current = null;
    await this.options.store.clear();
  }

  /** An access token good for at least the margin, renewing first when needed; null if signed out. */
  async accessToken(): Promise<string | null> {
    if (this.ended) throw this.ended;
    const tokens = await this.tokens();
    if (!tokens) return null;
    if (this.usable(tokens)) return tokens.accessToken;
    return (await this.renew(tokens.accessToken, false)).accessToken;
  }

  /**
   * Renews, sharing one in-flight renewal. `seenAccessToken` is the token the caller found stale (or the
   * server refused): if the store holds a different, usable one by the time we hold the lock,
   * someone else renewed and we take theirs. `force` skips our own expiry judgement (the server
   * said TOKEN_EXPIRED, or the caller asked for a renewal).
   */
  renew(seenAccessToken: string | undefined, force: boolean): Promise<StoredTokens> {
    if (this.ended) return Promise.reject(this.ended);
    this.renewal ??= this.renewUnderLock(seenAccessToken, force).finally(() => {
      this.renewal = undefined;
    });
    return this.renewal;
  }

  private async renewUnderLock(seen: string | undefined, force: boolean): Promise<StoredTokens> {
    const { store } = this.options;
    const run = async () => {
      const latest = await store.get();
      if (latest && this.usable(latest) && (!force || latest.accessToken !== seen)) {
        this.current = latest;
        return latest;
      }
      if (!latest && !this.cookieMode) {
        // Signed out elsewhere (another process cleared the file).
        if (seen || this.current) throw await this.end("REFRESH_TOKEN_MISSING");
        throw new WardenError("TOKEN_MISSING", "not signed in");
      }
      return this.refreshWith(latest, Boolean(seen || this.current || latest));
    };
    try {
      return await (store.withLock ? store.withLock(run) : run());
    } catch (error) {
      throw error instanceof WardenError ? error : toWardenError(error);
    }
  }

  private async refreshWith(latest: StoredTokens | null, hadSession: boolean): Promise<StoredTokens> {
    const { url, fetch, headers, refreshTimeoutMs } = this.options;
    const body = this.cookieMode ? {} : { refreshToken: latest?.refreshToken };
    let response: Response;
    try {
      response = await fetch(`${url}/trpc/auth.refresh`, {
        method: "POST",
        headers: { ...headers, "content-type": "application/json", ...(this.cookieMode ? { [COOKIE_HEADER]: "1" } : {}) },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(refreshTimeoutMs),
        ...(this.cookieMode ? { credentials: "include" as const } : {}),
      });
    } catch (error) {
      throw new WardenError("UNAVAILABLE", "Warden could not be reached", { cause: error });
    }
    let json: unknown;
    try {
      json = await response.json();
    } catch (error) {
      throw new WardenError("UNAVAILABLE", "unexpected answer from Warden", { status: response.status, cause: error });
    }
    if (!response.ok) {
      const error = errorFromBody(json, response.status);
      if (isSessionEndingReason(error.reason) && hadSession) throw await this.end(error.reason, error);
      throw error;
    }
    const pair = (json as { result?: { data?: TokenPair } }).result?.data;
    if (!pair || typeof pair.accessToken !== "string") throw new WardenError("UNAVAILABLE", "unexpected answer from Warden");
    const stored = toStoredTokens(pair, latest?.user, this.cookieMode);
    this.learnSkew(stored.accessToken);
    await this.options.store.set(stored);
    this.current = stored;
    return stored;
  }

  /**
   * Ends the session once: clears the store, tells the listeners, and returns the error every
   * later call fails with. A second ending (another call racing) returns the first error.
   */
  async end(reason: SessionEndingReason, cause?: unknown): Promise<WardenSessionEndedError> {
    if (this.ended) return this.ended;
    const sessionId = this.current?.sessionId ?? undefined;
    const error = new WardenSessionEndedError(reason, { cause });
    this.ended = error;
    this.current = null;
    try {
      // Another process sharing the store may have signed in since: leave its session alone.
      const stored = await this.options.store.get().catch(() => null);
      if (!stored || !sessionId || stored.sessionId === sessionId) await this.options.store.clear();
    } finally {
      for (const listener of this.listeners) {
        try {
          listener({ reason, sessionId });
        } catch {
          // A listener's failure is its own; the others still hear it.
        }
      }
    }
    return error;
  }

  /**
   * A call made with `accessToken` got a session-ending answer. Ends the session unless the store
   * has moved on to another session since the call left (a sign-in in the meantime).
   */
  async endFor(accessToken: string, reason: SessionEndingReason, cause: WardenError): Promise<WardenError> {
    const current = this.current;
    if (current && readSessionId(accessToken) !== current.sessionId) return cause;
    return this.end(reason, cause);
  }

  /** Good for longer than the margin (capped at half the token's lifetime, for short-lived tokens). */
  usable(tokens: StoredTokens): boolean {
    const times = readTimes(tokens.accessToken);
    const lifetimeMs = times ? (times.exp - times.iat) * 1000 : Number.POSITIVE_INFINITY;
    const margin = Math.min(this.options.refreshMarginMs, lifetimeMs / 2);
    return tokens.accessTokenExpiresAt - margin > this.options.now() + this.skewMs;
  }

  /** A client whose clock is minutes off would otherwise renew before every call, or too late. */
  private learnSkew(accessToken: string) {
    const times = readTimes(accessToken);
    if (!times) return;
    const skew = times.iat * 1000 - this.options.now();
    this.skewMs = Math.abs(skew) > SKEW_THRESHOLD_MS ? skew : 0;
  }
}

/** Below this, clock differences are noise (iat has one-second resolution, plus latency). */
const SKEW_THRESHOLD_MS = 5_000;

/** One Session per store object, so clients sharing a store share its renewals. */
const sessions = new WeakMap<TokenStore, Session>();

export function sessionFor(options: SessionOptions): Session {
  let session = sessions.get(options.store);
  if (!session) {
    session = new Session(options);
    sessions.set(options.store, session);
  }
  return session;
}
