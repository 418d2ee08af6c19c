import type { AccessTokenClaims } from "@warden/contracts";
import { verifyAccessToken, type VerifyOptions } from "./access-tokens.js";
import { BoundedCache } from "./bounded-cache.js";
import type { Auth } from "./context.js";
import { AuthError } from "./errors.js";
import { getCurrentSession, type CurrentSession } from "./sessions.js";

/**
 * Per-process caches for the protected-call path, so a call with a known token costs Map lookups
 * instead of an ECDSA verification and a database round trip. Both are bounded in size; neither
 * outlives what it caches (a token until its exp, a session row a few seconds), and a revocation
 * or a user's not-before that reaches this process (its own, or from the feed) drops the rows at once.
 */
export const VERIFIED_TOKEN_CACHE_SIZE = 10_000;
export const SESSION_CACHE_SIZE = 10_000;
/** A session row is reused this long; revocations evict it sooner (see onAdd below). */
export const SESSION_CACHE_TTL_MS = 5_000;

interface HotPathCaches {
  tokens: BoundedCache<string, AccessTokenClaims>;
  sessions: BoundedCache<string, CurrentSession>;
  /** Bumped on every revocation: a row read before it must not be cached after it. */
  epoch: number;
}

const cachesByAuth = new WeakMap<Auth, HotPathCaches>();

function cachesOf(auth: Auth): HotPathCaches {
  let caches = cachesByAuth.get(auth);
  if (!caches) {
    const created: HotPathCaches = {
      tokens: new BoundedCache(VERIFIED_TOKEN_CACHE_SIZE),
      sessions: new BoundedCache(SESSION_CACHE_SIZE),
      epoch: 0,
    };
    auth.revocations.onAdd((sessionIds) => {
      created.epoch++;
      for (const id of sessionIds) created.sessions.delete(id);
    });
    // A role change or a lock: the user's rows hold the old role or the unlocked state.
    auth.revocations.onNotBefore((userId) => {
      created.epoch++;
      created.sessions.deleteWhere((current) => current.user.id === userId);
    });
    cachesByAuth.set(auth, created);
    caches = created;
  }
  return caches;
}

/**
 * verifyAccessToken with the signature and claims check remembered per exact token string until
 * the token's exp. Revocation and expiry are still checked on every call, in SPEC's order.
 */
export function verifyAccessTokenCached(auth: Auth, token: string, options: VerifyOptions): AccessTokenClaims {
  const caches = cachesOf(auth);
  const cached = caches.tokens.get(token, options.now);
  if (!cached) {
    const claims = verifyAccessToken(auth.keys, auth.settings, token, options);
    caches.tokens.set(token, claims, claims.exp * 1000);
    return claims;
  }
  if (options.isSessionRevoked?.(cached.sid, cached)) throw new AuthError("SESSION_REVOKED", "session revoked");
  if (options.isIssuedBeforeNotBefore?.(cached)) throw new AuthError("TOKEN_EXPIRED", "access token issued before its user's not-before");
  const tolerance = options.clockToleranceSec ?? 0;
  if (cached.exp + tolerance <= options.now / 1000) throw new AuthError("TOKEN_EXPIRED", "access token expired");
  return cached;
}

/**
 * getCurrentSession, answered from memory for a few seconds unless the session is revoked meanwhile.
 * A bounded, revocation-aware read cache, also while PostgreSQL is down: within the TTL a session
 * read before the outage still answers (a revocation reaching this process refuses it, as ever),
 * and after the TTL the read fails closed with UNAVAILABLE. Never serves a row older than the TTL.
 */
export async function getCurrentSessionCached(auth: Auth, sessionId: string): Promise<CurrentSession | undefined> {
  const caches = cachesOf(auth);
  const now = auth.clock();
  const cached = caches.sessions.get(sessionId, now);
  if (cached) return cached;
  const epoch = caches.epoch;
  const current = await getCurrentSession(auth, sessionId);
  if (current && !current.revoked && caches.epoch === epoch) {
    caches.sessions.set(sessionId, current, now + SESSION_CACHE_TTL_MS);
  }
  return current;
}
