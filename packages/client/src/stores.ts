import { parseStoredTokens, type StoredTokens, type TokenStore } from "./tokens.js";

/** Tokens in this process's memory only (tests, short-lived scripts). */
export function memoryStore(initial: StoredTokens | null = null): TokenStore {
  let tokens = initial;
  return {
    mode: "tokens",
    get: async () => tokens,
    set: async (t) => {
      tokens = t;
    },
    clear: async () => {
      tokens = null;
    },
  };
}

/** Longest wait for another tab's renewal before going ahead without the lock. */
const DEFAULT_LOCK_TIMEOUT_MS = 10_000;

interface LockManagerLike {
  request<T>(name: string, options: { signal?: AbortSignal }, fn: () => Promise<T>): Promise<T>;
}

/**
 * One renewal at a time across the tabs of an origin (Web Locks). Waiting is bounded: after
 * `timeoutMs` the renewal runs anyway (the server's reuse grace covers a near-simultaneous one),
 * so a tab that hangs never blocks the others. Without Web Locks, it just runs.
 */
export function webLock(name: string, timeoutMs = DEFAULT_LOCK_TIMEOUT_MS) {
  return async <T>(fn: () => Promise<T>): Promise<T> => {
    const locks = (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator?.locks;
    if (!locks?.request) return fn();
    let ran = false;
    try {
      return await locks.request(name, { signal: AbortSignal.timeout(timeoutMs) }, () => {
        ran = true;
        return fn();
      });
    } catch (error) {
      if (ran) throw error;
      return fn();
    }
  };
}

interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/**
 * Tokens in `localStorage` / `sessionStorage` (or anything with that interface). Renewals are
 * serialised across tabs with Web Locks; after taking the lock the client re-reads the storage,
 * so a tab that finds its sibling already renewed uses those tokens instead of refreshing again.
 */
export function webStorageStore(storage: StorageLike, options: { key?: string; lockTimeoutMs?: number } = {}): TokenStore {
  const key = options.key ?? "warden.session";
  return {
    mode: "tokens",
    get: async () => {
      const text = storage.getItem(key);
      if (!text) return null;
      try {
        return parseStoredTokens(JSON.parse(text));
      } catch {
        return null;
      }
    },
    set: async (t) => storage.setItem(key, JSON.stringify(t)),
    clear: async () => storage.removeItem(key),
    withLock: webLock(`${key}:renewal`, options.lockTimeoutMs),
  };
}

/**
 * Browser cookie mode: the refresh token is an httpOnly cookie the server sets and JavaScript
 * never sees; only the access token is kept, in memory. After a page load, `warden.refresh()`
 * resumes the session from the cookie.
 */
export function cookieStore(options: { lockName?: string; lockTimeoutMs?: number } = {}): TokenStore {
  let tokens: StoredTokens | null = null;
  return {
    mode: "cookie",
    get: async () => tokens,
    set: async (t) => {
      const { refreshToken: _never, ...rest } = t;
      tokens = rest;
    },
    clear: async () => {
      tokens = null;
    },
    withLock: webLock(options.lockName ?? "warden.cookie:renewal", options.lockTimeoutMs),
  };
}

/** Browser entry: file stores need Node (see `@warden/client/node`). */
export function fileStore(_path: string, _options?: { lockTimeoutMs?: number; staleMs?: number }): TokenStore {
  throw new Error("fileStore needs Node.js: import it from '@warden/client/node' (or '@warden/client' under Node)");
}
