import { createHash } from "node:crypto";
import type { RateLimiter } from "@warden/api";
import { AuthError } from "@warden/auth";
import type { Redis } from "ioredis";
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from "rate-limiter-flexible";

export type RateLimitBucket = Parameters<RateLimiter["consume"]>[0];

export interface RateLimitPolicy {
  /** Attempts allowed per window. */
  points: number;
  durationSec: number;
  /** Once over budget, refused this long (defaults to the rest of the window). */
  blockSec?: number;
}

/**
 * Budgets per bucket. Login is limited per IP (a password-spraying source) and per account+IP:
 * the account budget is keyed with the IP too, so a stranger hammering someone's email locks
 * only themselves out, never the owner on their own network. A successful login clears the
 * account+IP budget.
 */
export const DEFAULT_RATE_LIMITS: Record<RateLimitBucket, RateLimitPolicy> = {
  login: { points: 30, durationSec: 60 },
  loginAccount: { points: 10, durationSec: 15 * 60, blockSec: 15 * 60 },
  signup: { points: 10, durationSec: 60 * 60 },
  refresh: { points: 120, durationSec: 60 },
};

/** The budgets an environment overrides (RATE_LIMIT_LOGIN=30/1m, ...); the rest keep their defaults. */
export function rateLimitsFromEnv(env: {
  RATE_LIMIT_LOGIN?: RateLimitPolicy | undefined;
  RATE_LIMIT_LOGIN_ACCOUNT?: RateLimitPolicy | undefined;
  RATE_LIMIT_SIGNUP?: RateLimitPolicy | undefined;
  RATE_LIMIT_REFRESH?: RateLimitPolicy | undefined;
}): Partial<Record<RateLimitBucket, RateLimitPolicy>> {
  const limits: Partial<Record<RateLimitBucket, RateLimitPolicy>> = {};
  if (env.RATE_LIMIT_LOGIN) limits.login = env.RATE_LIMIT_LOGIN;
  // The account budget blocks for its whole window once spent.
  if (env.RATE_LIMIT_LOGIN_ACCOUNT) limits.loginAccount = { ...env.RATE_LIMIT_LOGIN_ACCOUNT, blockSec: env.RATE_LIMIT_LOGIN_ACCOUNT.durationSec };
  if (env.RATE_LIMIT_SIGNUP) limits.signup = env.RATE_LIMIT_SIGNUP;
  if (env.RATE_LIMIT_REFRESH) limits.refresh = env.RATE_LIMIT_REFRESH;
  return limits;
}

export interface RateLimiterOptions {
  redis: Redis;
  /** Redis key prefix, e.g. the deployment's `{warden}` hash tag. */
  prefix: string;
  limits?: Partial<Record<RateLimitBucket, RateLimitPolicy>>;
}

/** Keys may hold emails: store a digest, so Redis holds no address and no caller-shaped key. */
function digest(key: string): string {
  return createHash("sha256").update(key).digest("base64url");
}

/**
 * Rate limits kept in Redis, shared by every auth-server instance. When Redis is unreachable an
 * in-memory limiter with the same budgets takes over for this process, so an outage neither
 * blocks logins nor lifts the limits.
 */
export function createRateLimiter(options: RateLimiterOptions): RateLimiter {
  const limits = { ...DEFAULT_RATE_LIMITS, ...options.limits };
  const limiters = new Map<RateLimitBucket, RateLimiterRedis>();
  for (const [bucket, policy] of Object.entries(limits) as [RateLimitBucket, RateLimitPolicy][]) {
    const common = {
      points: policy.points,
      duration: policy.durationSec,
      blockDuration: policy.blockSec ?? 0,
      keyPrefix: `${options.prefix}:rl:${bucket}`,
    };
    limiters.set(
      bucket,
      new RateLimiterRedis({
        ...common,
        storeClient: options.redis,
        // Not connected: go straight to the in-memory limiter instead of waiting on Redis.
        rejectIfRedisNotReady: true,
        insuranceLimiter: new RateLimiterMemory(common),
      }),
    );
  }
  const limiterFor = (bucket: RateLimitBucket) => {
    const limiter = limiters.get(bucket);
    if (!limiter) throw new Error(`no rate limit for ${bucket}`);
    return limiter;
  };

  return {
    async consume(bucket, key) {
      try {
        await limiterFor(bucket).consume(digest(key));
      } catch (error) {
        if (error instanceof RateLimiterRes) {
          throw new AuthError("RATE_LIMITED", "too many attempts, try again later", {
            retryAfterMs: Math.max(1, Math.ceil(error.msBeforeNext)),
          });
        }
        throw error;
      }
    },
    async reward(bucket, key) {
      // Best effort: a failed reset only means the budget refills on its own.
      await limiterFor(bucket)
        .delete(digest(key))
        .catch(() => false);
    },
  };
}
