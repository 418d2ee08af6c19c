import {
  VerifiedTokenCache,
  checkAccessToken,
  principalOf,
  type AccessTokenCheckOptions,
  type Clock,
  type KeyLookup,
  type Principal,
  type VerificationKey,
} from "@warden/access-token";
import { DEFAULT_QUEUE_PREFIX, type RedisTarget } from "@warden/contracts";
import { VerifierError } from "./errors.js";
import { RevocationSet, startRevocationFeed, type RevocationFeed } from "@warden/revocations";
import { algorithmOf, keysFromJwks, toKeyObject, type KeyInput, type VerifierAlgorithm } from "./keys.js";

export interface VerifierOptions {
  /** Where Warden publishes its public keys (`<server>/.well-known/jwks.json`). */
  jwksUrl?: string;
  /** Or one fixed key (PEM, JWK, KeyObject; a Buffer for an HS256 secret). Used whatever the kid. */
  publicKey?: KeyInput;
  issuer: string;
  audience: string;
  /**
   * Subscribe to Warden's revocation feed here, so revoked sessions (and tokens issued before a
   * user's role change or lock) are refused within milliseconds.
   */
  redisUrl?: string;
  /** Or a Redis Cluster (its seed nodes), instead of redisUrl. */
  redis?: RedisTarget;
  /** Key prefix of the feed, shared with the auth servers and the worker (default `{warden}`). */
  queuePrefix?: string;
  /** Seconds a token is still accepted past exp, for clocks that disagree a little (default 5). */
  clockToleranceSec?: number;
  /** Pinned: a token whose header names another algorithm is refused (default ["ES256"]). */
  algorithms?: VerifierAlgorithm[];
  /** Verified tokens kept, by exact string, until their exp (default 50,000). */
  cacheSize?: number;
  /** An unknown kid refetches the JWKS at most this often (default 10 s). */
  jwksRefetchIntervalMs?: number;
  /** The JWKS is refetched in the background this often, so removed keys stop verifying (default 5 min). */
  jwksMaxAgeMs?: number;
  /** Bring your own revocation set (shared with other verifiers, or filled by hand). */
  revocations?: RevocationSet;
  now?: Clock;
  fetch?: typeof globalThis.fetch;
  onError?: (error: Error) => void;
}

/**
 * Checks Warden access tokens inside another backend, with no network round trip per request:
 * the auth server's own check (`checkAccessToken` from @warden/access-token), with keys from the
 * JWKS by kid (algorithms pinned) and this process's revocation set. Same order, same reasons.
 */
export class Verifier {
  readonly revocations: RevocationSet;
  private keys = new Map<string, VerificationKey>();
  private readonly staticKey: VerificationKey | undefined;
  private readonly cache: VerifiedTokenCache;
  private readonly check: AccessTokenCheckOptions;
  private readonly algorithms: readonly VerifierAlgorithm[];
  private readonly now: Clock;
  private readonly feed: RevocationFeed | undefined;
  private jwksLoad: Promise<void> | undefined;
  private lastKidRefetch = Number.NEGATIVE_INFINITY;
  private jwksTimer: NodeJS.Timeout | undefined;
  private readonly ownsRevocations: boolean;

  constructor(private readonly options: VerifierOptions) {
    if (!options.jwksUrl && !options.publicKey) throw new Error("createVerifier needs jwksUrl or publicKey");
    this.algorithms = options.algorithms ?? ["ES256"];
    this.now = options.now ?? Date.now;
    this.cache = new VerifiedTokenCache(options.cacheSize ?? 50_000);
    this.ownsRevocations = !options.revocations;
    this.revocations = options.revocations ?? new RevocationSet({ clock: this.now });
    if (options.publicKey) {
      const key = toKeyObject(options.publicKey);
      const alg = algorithmOf(key);
      if (!alg || !this.algorithms.includes(alg))
        throw new Error(`the key fits none of the algorithms ${this.algorithms.join(", ")}`);
      this.staticKey = { alg, key };
    }
    // The JWKS keys by kid; a fixed key whatever the kid. Only keys of the pinned algorithms are
    // held, and the key fixes the algorithm a token must name.
    const keys: KeyLookup = (kid) => this.keys.get(kid) ?? this.staticKey;
    this.check = {
      keys,
      expected: { issuer: options.issuer, audience: options.audience },
      clockToleranceSec: options.clockToleranceSec ?? 5,
      revocations: this.revocations,
      cache: this.cache,
    };
    if (options.jwksUrl) {
      void this.refetchJwks(true);
      const maxAge = options.jwksMaxAgeMs ?? 300_000;
      this.jwksTimer = setInterval(() => void this.refetchJwks(true), maxAge);
      this.jwksTimer.unref();
    }
    const redis = options.redis ?? options.redisUrl;
    if (redis) {
      this.feed = startRevocationFeed({
        redis,
        prefix: options.queuePrefix ?? DEFAULT_QUEUE_PREFIX,
        sink: this.revocations,
        ...(options.onError ? { onError: options.onError } : {}),
        now: this.now,
      });
    }
  }

  /** Tokens currently cached (bounded by cacheSize). */
  get cachedTokens(): number {
    return this.cache.size;
  }

  /** Resolves once the keys and the revocation snapshot are loaded; rejects after `timeoutMs`. */
  async ready(timeoutMs = 15_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`verifier not ready after ${timeoutMs} ms: ${this.notReadyBecause()}`)),
        timeoutMs,
      );
    });
    try {
      await Promise.race([Promise.all([this.jwksLoad, this.feed?.ready()]), timeout]);
    } finally {
      clearTimeout(timer);
    }
    if (this.options.jwksUrl && this.keys.size === 0 && !this.staticKey) throw new Error("no usable key in the JWKS");
  }

  private notReadyBecause(): string {
    const why: string[] = [];
    if (this.options.jwksUrl && this.keys.size === 0) why.push(`no keys from ${this.options.jwksUrl} yet`);
    if (this.feed && !this.feed.complete) {
      why.push(
        "the revocation feed in Redis is unreachable or incomplete (Redis lost it and no Warden admin worker has rebuilt it from PostgreSQL yet: is a worker running against this Redis and queue prefix?)",
      );
    }
    return why.join("; ") || "still loading";
  }

  /**
   * Verifies synchronously with the keys at hand. A token with an unknown kid is TOKEN_INVALID
   * (and schedules a JWKS refetch); `verify` waits for that refetch instead.
   */
  verifySync(token: string): Principal {
    const verdict = checkAccessToken(this.check, token, this.now());
    if (verdict.ok) return principalOf(verdict.claims);
    if (verdict.unknownKid) throw new UnknownKidError(this.scheduleRefetch());
    throw new VerifierError(verdict.reason, verdict.message);
  }

  /** Like verifySync, but a kid not seen yet refetches the JWKS (rate-limited) and tries again. */
  async verify(token: string): Promise<Principal> {
    try {
      return this.verifySync(token);
    } catch (error) {
      if (!(error instanceof UnknownKidError) || !(await this.refetchJwks(false))) throw error;
      return this.verifySync(token);
    }
  }

  private scheduleRefetch(): boolean {
    if (!this.options.jwksUrl) return false;
    void this.refetchJwks(false);
    return true;
  }

  /** Loads the JWKS; unless forced, at most once per jwksRefetchIntervalMs. True if keys were (re)loaded. */
  private refetchJwks(force: boolean): Promise<boolean> {
    const url = this.options.jwksUrl;
    if (!url) return Promise.resolve(false);
    if (this.jwksLoad)
      return this.jwksLoad.then(
        () => true,
        () => false,
      );
    const interval = this.options.jwksRefetchIntervalMs ?? 10_000;
    // Only refetches for unknown kids are rate-limited (an attacker can send any kid).
    if (!force) {
      if (Date.now() - this.lastKidRefetch < interval) return Promise.resolve(false);
      this.lastKidRefetch = Date.now();
    }
    const fetchImpl = this.options.fetch ?? globalThis.fetch;
    const load = (async () => {
      try {
        const response = await fetchImpl(url, { signal: AbortSignal.timeout(5_000) });
        if (!response.ok) throw new Error(`JWKS answered ${response.status}`);
        this.keys = keysFromJwks(await response.json(), this.algorithms);
      } catch (error) {
        this.options.onError?.(error as Error);
      }
    })();
    this.jwksLoad = load;
    void load.finally(() => {
      if (this.jwksLoad === load) this.jwksLoad = undefined;
    });
    return load.then(() => true);
  }

  async close(): Promise<void> {
    if (this.jwksTimer) clearInterval(this.jwksTimer);
    await this.feed?.close();
    if (this.ownsRevocations) this.revocations.close();
    this.cache.clear();
  }
}

/** A kid the verifier has no key for (yet): TOKEN_INVALID unless a JWKS refetch brings it. */
class UnknownKidError extends VerifierError {
  constructor(readonly refetching: boolean) {
    super("TOKEN_INVALID", "unknown key");
  }
}

export function createVerifier(options: VerifierOptions): Verifier {
  return new Verifier(options);
}
