import { VerifiedTokenCache } from "@warden/access-token";
import type { RevocationEvent } from "@warden/contracts";
import type { Database } from "@warden/db";
import type { TokenSettings } from "./access-tokens.js";
import { systemClock, type Clock } from "./clock.js";
import { deriveDataKeys, randomDataKeys, type DataKeys } from "./data-keys.js";
import type { KeyRing } from "./keys.js";
import { RevocationSet } from "@warden/revocations";
import { DEFAULT_SESSION_CACHE_TTL_MS, SessionCache, VERIFIED_TOKEN_CACHE_SIZE } from "./session-cache.js";

export interface AuthSettings extends TokenSettings {
  /** Idle limit: a refresh token unused this long is dead. */
  refreshTokenTtlMs: number;
  /** Absolute limit of a session, however active. */
  sessionMaxAgeMs: number;
  /** How long the most recently rotated refresh token may be replayed for the same successor. */
  refreshReuseGraceMs: number;
  /** REQUIRE_VERIFIED_EMAIL: signup opens no session and login refuses an unverified email. */
  requireVerifiedEmail: boolean;
  /** SESSION_CACHE_TTL: how long the rows behind `auth.me` are answered from memory (session-cache.ts). */
  sessionCacheTtlMs: number;
  /** WEBHOOKS_ALLOW_LOCAL: webhooks may point to loopback (development, tests); never to other private addresses. */
  webhooksAllowLocal: boolean;
}

export const DEFAULT_AUTH_SETTINGS = {
  accessTokenTtlMs: 15 * 60_000,
  refreshTokenTtlMs: 7 * 86_400_000,
  sessionMaxAgeMs: 30 * 86_400_000,
  refreshReuseGraceMs: 10_000,
  requireVerifiedEmail: false,
  sessionCacheTtlMs: DEFAULT_SESSION_CACHE_TTL_MS,
  webhooksAllowLocal: false,
} as const;

/** Verifiers may accept tokens a few seconds past exp; revocation entries outlive that too. */
export const REVOCATION_SLACK_MS = 30_000;

/**
 * Pause points inside login and the admin changes, for tests that interleave them with a lock, a
 * revocation, a password change or each other. Production never sets them (nothing reachable from
 * HTTP does).
 */
export interface AuthHooks {
  /** Awaited after the password check, before the statement that starts the session. */
  afterPasswordCheck?: () => Promise<void>;
  /**
   * Awaited inside a demotion, lock or deletion of an unlocked admin, with the target's row locked,
   * before the other unlocked admins are counted (see last-admin.ts).
   */
  beforeAdminCount?: () => Promise<void>;
}

/** Where the domain reports what it cannot tell its caller (an audit row that could not be written). pino fits. */
export interface AuthLogger {
  warn(details: object, message: string): void;
}

/** Tools and tests that give no logger: warnings go to stderr. */
const stderrLogger: AuthLogger = {
  warn: (details, message) => console.warn(message, details),
};

/**
 * How a refresh ended: rotated, a grace retry answered with the same successor, or refused
 * (a reused token, whose session is then revoked; expired; revoked; unknown).
 */
export const REFRESH_OUTCOMES = ["rotated", "grace", "reused", "expired", "revoked", "invalid"] as const;
export type RefreshOutcome = (typeof REFRESH_OUTCOMES)[number];

/** Everything the domain functions need. Built once per process (`createAuth`). */
export interface Auth {
  db: Database;
  keys: KeyRing;
  settings: AuthSettings;
  clock: Clock;
  /** Sessions whose access tokens this process refuses, and users' not-befores. */
  revocations: RevocationSet;
  /** Access tokens whose signature and claims this process has verified, until their exp. */
  tokenCache: VerifiedTokenCache;
  /** The rows behind `auth.me` for SESSION_CACHE_TTL, dropped when a revocation or a user change reaches `revocations`. */
  sessionCache: SessionCache;
  /**
   * Derive refresh-token successors (see tokens.ts): from the data key, never a JWT key, so
   * rotating a JWT key breaks no grace retry. The current key first, then the previous ones.
   */
  refreshKeys: [current: Buffer, ...previous: Buffer[]];
  /** Derive the tokens of reset and verification links (one-time-tokens.ts); the worker holds the same keys. */
  oneTimeKeys: [current: Buffer, ...previous: Buffer[]];
  /** Encrypt webhook signing secrets at rest (webhook-secrets.ts); the worker decrypts with the same keys. */
  webhookSecretKeys: [current: Buffer, ...previous: Buffer[]];
  /** Told after a revoking transaction has committed (outbox relay wake-up, live feed). */
  afterRevocation: (event: RevocationEvent, sessionIds: string[]) => void;
  /** Told how each refresh ended (metrics); synchronous and cheap, it runs inside the call. */
  onRefresh: (outcome: RefreshOutcome) => void;
  logger: AuthLogger;
  /** Test-only pause points (see AuthHooks). */
  hooks?: AuthHooks;
}

export interface CreateAuthOptions {
  db: Database;
  keys: KeyRing;
  settings: Partial<AuthSettings> & Pick<AuthSettings, "issuer" | "audience">;
  clock?: Clock;
  revocations?: RevocationSet;
  /** Every instance must share them; absent, a random key for this process only (tests, tools). */
  dataKeys?: DataKeys;
  afterRevocation?: Auth["afterRevocation"];
  onRefresh?: Auth["onRefresh"];
  /** Absent: stderr. */
  logger?: AuthLogger;
  hooks?: AuthHooks;
}

export function createAuth(options: CreateAuthOptions): Auth {
  const clock = options.clock ?? systemClock;
  const revocations = options.revocations ?? new RevocationSet({ clock });
  const dataKeys = options.dataKeys ?? randomDataKeys();
  const settings = { ...DEFAULT_AUTH_SETTINGS, ...options.settings };
  return {
    db: options.db,
    keys: options.keys,
    settings,
    clock,
    revocations,
    tokenCache: new VerifiedTokenCache(VERIFIED_TOKEN_CACHE_SIZE),
    sessionCache: new SessionCache(revocations, settings.sessionCacheTtlMs),
    refreshKeys: deriveDataKeys(dataKeys, "refresh-successor"),
    oneTimeKeys: deriveDataKeys(dataKeys, "one-time-token"),
    webhookSecretKeys: deriveDataKeys(dataKeys, "webhook-secret"),
    afterRevocation: options.afterRevocation ?? (() => {}),
    onRefresh: options.onRefresh ?? (() => {}),
    logger: options.logger ?? stderrLogger,
    hooks: options.hooks,
  };
}

/** Until when a revoked session's access tokens must be refused. */
export function revocationUntil(auth: Auth, at: number): number {
  return at + auth.settings.accessTokenTtlMs + REVOCATION_SLACK_MS;
}
