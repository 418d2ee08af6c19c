import { createHmac, timingSafeEqual, verify as verifySignature, type KeyObject } from "node:crypto";
import { ACCESS_TOKEN_TYPE, DEFAULT_QUEUE_PREFIX, ROLES, type AccessTokenClaims, type Role } from "@warden/contracts";
import { VerifierError } from "./errors.js";
import { startRevocationFeed, type RevocationFeed } from "@warden/revocations";
import { algorithmOf, keysFromJwks, toKeyObject, type KeyInput, type VerificationKey, type VerifierAlgorithm } from "./keys.js";
import { RevocationSet } from "@warden/revocations";

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
  now?: () => number;
  fetch?: typeof globalThis.fetch;
  onError?: (error: Error) => void;
}

/** Who made the request, as the access token says. */
export interface Principal {
  userId: string;
  sessionId: string;
  role: Role;
  claims: AccessTokenClaims;
}

interface CacheEntry {
  principal: Principal;
  /** exp + tolerance, epoch ms. */
  expiresAtMs: number;
}

const MAX_TOKEN_LENGTH = 4096;
const MAX_KID_LENGTH = 128;
const BASE64URL = /^[A-Za-z0-9_-]+$/;
/** Signature length in base64url characters: 64 bytes for ES256 (r||s), 32 for HS256. */
const SIGNATURE_CHARS: Record<VerifierAlgorithm, number> = { ES256: 86, HS256: 43 };

function invalid(message: string): never {
  throw new VerifierError("TOKEN_INVALID", message);
}

function decodeJson(part: string, what: string): Record<string, unknown> {
  if (!BASE64URL.test(part)) invalid(`${what} is not base64url`);
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
  } catch {
    invalid(`${what} is not JSON`);
  }
  if (!value || typeof value !== "object" || Array.isArray(value)) invalid(`${what} is not a JSON object`);
  return value as Record<string, unknown>;
}

/**
 * Checks Warden access tokens inside another backend, with no network round trip per request:
 * signature with pinned algorithms (keys from the JWKS by kid), claims, then revocation
 * (SESSION_REVOKED), then expiry (TOKEN_EXPIRED) — the server's order and reasons.
 */
export class Verifier {
  readonly revocations: RevocationSet;
  private keys = new Map<string, VerificationKey>();
  private readonly staticKey: VerificationKey | undefined;
  private readonly cache = new Map<string, CacheEntry>();
  private readonly cacheSize: number;
  private readonly toleranceMs: number;
  private readonly algorithms: readonly VerifierAlgorithm[];
  private readonly now: () => number;
  private readonly feed: RevocationFeed | undefined;
  private jwksLoad: Promise<void> | undefined;
  private lastKidRefetch = Number.NEGATIVE_INFINITY;
  private jwksTimer: NodeJS.Timeout | undefined;
  private readonly ownsRevocations: boolean;

  constructor(private readonly options: VerifierOptions) {
    if (!options.jwksUrl && !options.publicKey) throw new Error("createVerifier needs jwksUrl or publicKey");
    this.algorithms = options.algorithms ?? ["ES256"];
    this.now = options.now ?? Date.now;
    this.toleranceMs = (options.clockToleranceSec ?? 5) * 1000;
    this.cacheSize = options.cacheSize ?? 50_000;
    this.ownsRevocations = !options.revocations;
    this.revocations = options.revocations ?? new RevocationSet({ clock: this.now });
    if (options.publicKey) {
      const key = toKeyObject(options.publicKey);
      const alg = algorithmOf(key);
      if (!alg || !this.algorithms.includes(alg)) throw new Error(`the key fits none of the algorithms ${this.algorithms.join(", ")}`);
      this.staticKey = { alg, key };
    }
    if (options.jwksUrl) {
      void this.refetchJwks(true);
      const maxAge = options.jwksMaxAgeMs ?? 300_000;
      this.jwksTimer = setInterval(() => void this.refetchJwks(true), maxAge);
      this.jwksTimer.unref();
    }
    if (options.redisUrl) {
      this.feed = startRevocationFeed({
        redisUrl: options.redisUrl,
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
      timer = setTimeout(() => reject(new Error("verifier not ready: JWKS or revocation feed unreachable")), timeoutMs);
    });
    try {
      await Promise.race([Promise.all([this.jwksLoad, this.feed?.ready()]), timeout]);
    } finally {
      clearTimeout(timer);
    }
    if (this.options.jwksUrl && this.keys.size === 0 && !this.staticKey) throw new Error("no usable key in the JWKS");
  }

  /**
   * Verifies synchronously with the keys at hand. A token with an unknown kid is TOKEN_INVALID
   * (and schedules a JWKS refetch); `verify` waits for that refetch instead.
   */
  verifySync(token: string): Principal {
    const cached = this.cache.get(token);
    return this.admit(token, cached ?? this.check(token));
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

  /**
   * Revocation first, then expiry: the server's order. A token issued before its user's
   * not-before (a role change or a lock) counts as expired, so the client renews and gets the
   * current role; checked here, on every call, so a cached verdict never outlives it.
   */
  private admit(token: string, entry: CacheEntry): Principal {
    if (this.revocations.has(entry.principal.sessionId)) throw new VerifierError("SESSION_REVOKED", "session revoked");
    if (this.revocations.issuedBeforeNotBefore(entry.principal.userId, entry.principal.claims.iat)) {
      this.cache.delete(token);
      throw new VerifierError("TOKEN_EXPIRED", "access token issued before its user's not-before");
    }
    if (entry.expiresAtMs <= this.now()) {
      this.cache.delete(token);
      throw new VerifierError("TOKEN_EXPIRED", "access token expired");
    }
    return entry.principal;
  }

  /** Signature and claims of a token not seen before; caches it until its exp. */
  private check(token: string): CacheEntry {
    if (typeof token !== "string" || token.length === 0) invalid("no token");
    if (token.length > MAX_TOKEN_LENGTH) invalid("access token too long");
    const dot1 = token.indexOf(".");
    const dot2 = token.indexOf(".", dot1 + 1);
    if (dot1 <= 0 || dot2 <= dot1 + 1 || token.indexOf(".", dot2 + 1) !== -1) invalid("malformed access token");

    const header = decodeJson(token.slice(0, dot1), "header");
    if (header.typ !== ACCESS_TOKEN_TYPE) invalid("not an access token");
    if (header.crit !== undefined) invalid("unsupported critical header");
    const alg = header.alg as VerifierAlgorithm;
    if (!this.algorithms.includes(alg)) invalid("algorithm not allowed");
    const kid = header.kid;
    if (typeof kid !== "string" || kid.length > MAX_KID_LENGTH) invalid("unknown key");
    const key = this.keys.get(kid) ?? this.staticKey;
    if (!key) throw new UnknownKidError(this.scheduleRefetch());
    if (key.alg !== alg) invalid("algorithm does not match the key");

    const signature = token.slice(dot2 + 1);
    if (signature.length !== SIGNATURE_CHARS[alg] || !BASE64URL.test(signature)) invalid("malformed signature");
    const signatureBytes = Buffer.from(signature, "base64url");
    // Only the canonical encoding: a token has exactly one spelling (it is a cache key).
    if (signatureBytes.toString("base64url") !== signature) invalid("malformed signature");
    const signingInput = Buffer.from(token.slice(0, dot2), "latin1");
    if (!this.signatureMatches(alg, key.key, signingInput, signatureBytes)) invalid("bad signature");

    const claims = this.checkClaims(decodeJson(token.slice(dot1 + 1, dot2), "payload"));
    const entry: CacheEntry = {
      principal: { userId: claims.sub, sessionId: claims.sid, role: claims.role, claims },
      expiresAtMs: claims.exp * 1000 + this.toleranceMs,
    };
    if (entry.expiresAtMs > this.now()) this.remember(token, entry);
    return entry;
  }

  private signatureMatches(alg: VerifierAlgorithm, key: KeyObject, data: Buffer, signature: Buffer): boolean {
    if (alg === "ES256") return verifySignature("sha256", data, { key, dsaEncoding: "ieee-p1363" }, signature);
    const expected = createHmac("sha256", key).update(data).digest();
    return timingSafeEqual(expected, signature);
  }

  private checkClaims(payload: Record<string, unknown>): AccessTokenClaims {
    const { sub, sid, jti, iat, exp, role, iss, aud, nbf } = payload;
    if (iss !== this.options.issuer) invalid("wrong issuer");
    if (aud !== this.options.audience && !(Array.isArray(aud) && aud.includes(this.options.audience))) invalid("wrong audience");
    const ok =
      typeof sub === "string" &&
      typeof sid === "string" &&
      typeof jti === "string" &&
      Number.isInteger(iat) &&
      Number.isInteger(exp) &&
      (ROLES as readonly unknown[]).includes(role);
    if (!ok) invalid("access token claims missing or malformed");
    if (nbf !== undefined && (typeof nbf !== "number" || nbf * 1000 > this.now() + this.toleranceMs)) invalid("token not yet valid");
    return payload as unknown as AccessTokenClaims;
  }

  /** Bounded: when full, the oldest entries go first (insertion order). */
  private remember(token: string, entry: CacheEntry) {
    if (this.cache.size >= this.cacheSize) {
      const now = this.now();
      let dropped = 0;
      for (const [oldToken, old] of this.cache) {
        if (dropped >= 1 && old.expiresAtMs > now) break;
        this.cache.delete(oldToken);
        dropped++;
        if (dropped > 64) break;
      }
    }
    this.cache.set(token, entry);
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
    if (this.jwksLoad) return this.jwksLoad.then(() => true, () => false);
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
