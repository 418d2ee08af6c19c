import type { PublicUser, TokenPair } from "@warden/contracts";

/** What a store keeps. In cookie mode there is no refreshToken: it lives in an httpOnly cookie. */
export interface StoredTokens {
  accessToken: string;
  /** Epoch milliseconds. */
  accessTokenExpiresAt: number;
  refreshToken?: string;
  refreshTokenExpiresAt: number;
  sessionId: string;
  user?: PublicUser;
}

export interface TokenStore {
  get(): Promise<StoredTokens | null>;
  set(tokens: StoredTokens): Promise<void>;
  clear(): Promise<void>;
  /** Runs `fn` while no other tab/process sharing this store renews. Absent: in-process only. */
  withLock?<T>(fn: () => Promise<T>): Promise<T>;
  /** "cookie": the refresh token is an httpOnly cookie; requests send `x-warden-cookie: 1`. */
  readonly mode?: "tokens" | "cookie";
}

export function toStoredTokens(pair: TokenPair, user: PublicUser | undefined, cookieMode: boolean): StoredTokens {
  const stored: StoredTokens = {
    accessToken: pair.accessToken,
    accessTokenExpiresAt: pair.accessTokenExpiresAt,
    refreshTokenExpiresAt: pair.refreshTokenExpiresAt,
    sessionId: pair.sessionId,
  };
  if (!cookieMode && pair.refreshToken) stored.refreshToken = pair.refreshToken;
  if (user) stored.user = user;
  return stored;
}

interface UnverifiedClaims {
  iat?: unknown;
  exp?: unknown;
  sid?: unknown;
}

/** The claims of a JWT, without verifying it (the server does that): for timing decisions only. */
function readClaims(token: string): UnverifiedClaims | undefined {
  const part = token.split(".")[1];
  if (!part) return undefined;
  try {
    return JSON.parse(atob(part.replace(/-/g, "+").replace(/_/g, "/"))) as UnverifiedClaims;
  } catch {
    return undefined;
  }
}

/** `iat`/`exp` of an access token, in seconds. */
export function readTimes(token: string): { iat: number; exp: number } | undefined {
  const { iat, exp } = readClaims(token) ?? {};
  return typeof iat === "number" && typeof exp === "number" ? { iat, exp } : undefined;
}

/** The session id an access token names. */
export function readSessionId(token: string): string | undefined {
  const sid = readClaims(token)?.sid;
  return typeof sid === "string" ? sid : undefined;
}

/** Stored tokens read back from somewhere untrusted (a file, web storage): the shape or nothing. */
export function parseStoredTokens(value: unknown): StoredTokens | null {
  if (!value || typeof value !== "object") return null;
  const t = value as Record<string, unknown>;
  if (typeof t.accessToken !== "string" || typeof t.sessionId !== "string") return null;
  if (typeof t.accessTokenExpiresAt !== "number" || typeof t.refreshTokenExpiresAt !== "number") return null;
  if (t.refreshToken !== undefined && typeof t.refreshToken !== "string") return null;
  return t as unknown as StoredTokens;
}
