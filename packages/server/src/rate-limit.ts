import { createHash } from "node:crypto";
import { isIPv4, isIPv6 } from "node:net";
import type { RateLimiter, RateLimitSubject } from "@warden/api";
import { AuthError } from "@warden/auth";
import type { RedisClient } from "@warden/revocations";
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
  passwordReset: { points: 20, durationSec: 60 * 60 },
  passwordResetEmail: { points: 5, durationSec: 60 * 60 },
  emailVerification: { points: 5, durationSec: 60 * 60 },
};

/** The setting that overrides each bucket's budget (see config.ts), named in a 429's message. */
export const RATE_LIMIT_SETTINGS = {
  login: "RATE_LIMIT_LOGIN",
  loginAccount: "RATE_LIMIT_LOGIN_ACCOUNT",
  signup: "RATE_LIMIT_SIGNUP",
  refresh: "RATE_LIMIT_REFRESH",
  passwordReset: "RATE_LIMIT_PASSWORD_RESET",
  passwordResetEmail: "RATE_LIMIT_PASSWORD_RESET_EMAIL",
  emailVerification: "RATE_LIMIT_EMAIL_VERIFICATION",
} as const satisfies Record<RateLimitBucket, string>;

/** What each bucket counts, for a 429's message. */
const COUNTED: Record<RateLimitBucket, string> = {
  login: "login attempts from this address",
  loginAccount: "login attempts for this account from this address",
  signup: "sign-ups from this address",
  refresh: "token refreshes from this address",
  passwordReset: "password-reset requests and emailed-link uses from this address",
  passwordResetEmail: "password-reset emails for this address",
  emailVerification: "verification emails for this account",
};

/** A window in the unit RATE_LIMIT_* settings take: `1h`, `15m`, `30s`. */
function formatWindow(seconds: number): string {
  for (const [unit, size] of [
    ["d", 86_400],
    ["h", 3600],
    ["m", 60],
  ] as const) {
    if (seconds % size === 0) return `${seconds / size}${unit}`;
  }
  return `${seconds}s`;
}

/** A budget as a RATE_LIMIT_* setting spells it: `10/1h`. */
export function formatBudget(policy: RateLimitPolicy): string {
  return `${policy.points}/${formatWindow(policy.durationSec)}`;
}

/** A wait, rounded up, in the unit a person reads it: `45s`, `52 min`, `3 h`. */
function formatWait(ms: number): string {
  const seconds = Math.ceil(ms / 1000);
  if (seconds < 90) return `${seconds}s`;
  const minutes = Math.ceil(seconds / 60);
  return minutes < 120 ? `${minutes} min` : `${Math.ceil(minutes / 60)} h`;
}

/**
 * A 429's message: which limit was reached, the setting that changes it, and when to come back.
 * Developers hitting a production budget locally should not have to read the source to find it.
 */
function rateLimitedMessage(bucket: RateLimitBucket, policy: RateLimitPolicy, retryAfterMs: number): string {
  const setting = RATE_LIMIT_SETTINGS[bucket];
  return `too many ${COUNTED[bucket]}: the limit is ${formatBudget(policy)} (${setting}=<attempts>/<window> on the server changes it); try again in ${formatWait(retryAfterMs)}`;
}

/** The budgets an environment overrides (RATE_LIMIT_LOGIN=30/1m, ...); the rest keep their defaults. */
export function rateLimitsFromEnv(env: {
  RATE_LIMIT_LOGIN?: RateLimitPolicy | undefined;
  RATE_LIMIT_LOGIN_ACCOUNT?: RateLimitPolicy | undefined;
  RATE_LIMIT_SIGNUP?: RateLimitPolicy | undefined;
  RATE_LIMIT_REFRESH?: RateLimitPolicy | undefined;
  RATE_LIMIT_PASSWORD_RESET?: RateLimitPolicy | undefined;
  RATE_LIMIT_PASSWORD_RESET_EMAIL?: RateLimitPolicy | undefined;
  RATE_LIMIT_EMAIL_VERIFICATION?: RateLimitPolicy | undefined;
}): Partial<Record<RateLimitBucket, RateLimitPolicy>> {
  const limits: Partial<Record<RateLimitBucket, RateLimitPolicy>> = {};
  if (env.RATE_LIMIT_LOGIN) limits.login = env.RATE_LIMIT_LOGIN;
  // The account budget blocks for its whole window once spent.
  if (env.RATE_LIMIT_LOGIN_ACCOUNT)
    limits.loginAccount = { ...env.RATE_LIMIT_LOGIN_ACCOUNT, blockSec: env.RATE_LIMIT_LOGIN_ACCOUNT.durationSec };
  if (env.RATE_LIMIT_SIGNUP) limits.signup = env.RATE_LIMIT_SIGNUP;
  if (env.RATE_LIMIT_REFRESH) limits.refresh = env.RATE_LIMIT_REFRESH;
  if (env.RATE_LIMIT_PASSWORD_RESET) limits.passwordReset = env.RATE_LIMIT_PASSWORD_RESET;
  if (env.RATE_LIMIT_PASSWORD_RESET_EMAIL) limits.passwordResetEmail = env.RATE_LIMIT_PASSWORD_RESET_EMAIL;
  if (env.RATE_LIMIT_EMAIL_VERIFICATION) limits.emailVerification = env.RATE_LIMIT_EMAIL_VERIFICATION;
  return limits;
}

/** An IPv6 host routinely holds a whole /64 (SLAAC, privacy addresses): budget it as one source. */
const DEFAULT_IPV6_PREFIX_LENGTH = 64;

/** The eight 16-bit groups of a valid IPv6 address, whatever its spelling (`::`, dotted tail). */
function ipv6Groups(address: string): number[] {
  const parse = (part: string) =>
    part === ""
      ? []
      : part.split(":").flatMap((group) => {
          if (!group.includes(".")) return [parseInt(group, 16)];
          const [a = 0, b = 0, c = 0, d = 0] = group.split(".").map(Number);
          return [(a << 8) | b, (c << 8) | d];
        });
  const [head = "", tail] = address.split("::");
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  return [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
}

/**
 * The source an address counts as for per-address budgets: an IPv4 address itself (IPv4-mapped
 * IPv6 `::ffff:a.b.c.d` included, so a dual-stack socket changes nothing), an IPv6 address its
 * prefix of `prefixLength` bits, so the addresses of one /64 share one budget. Any spelling of an
 * address gives the same source.
 */
export function rateLimitSource(ip: string | undefined, prefixLength = DEFAULT_IPV6_PREFIX_LENGTH): string {
  if (!ip) return "unknown";
  const address = ip.replace(/%.*$/, ""); // a zone id (fe80::1%eth0) names an interface, not a host
  if (isIPv4(address)) return address;
  if (!isIPv6(address)) return ip;
  const groups = ipv6Groups(address);
  if (groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff) {
    const [high = 0, low = 0] = groups.slice(6);
    return [high >> 8, high & 0xff, low >> 8, low & 0xff].join(".");
  }
  const masked = groups.map((group, i) => {
    const bits = Math.min(16, Math.max(0, prefixLength - 16 * i));
    return group & ((0xffff << (16 - bits)) & 0xffff);
  });
  return `${masked.map((group) => group.toString(16)).join(":")}/${prefixLength}`;
}

export interface RateLimiterOptions {
  redis: RedisClient;
  /** Redis key prefix, e.g. the deployment's `{warden}` hash tag. */
  prefix: string;
  limits?: Partial<Record<RateLimitBucket, RateLimitPolicy>>;
  /** IPv6 clients are counted per prefix of this many bits (RATE_LIMIT_IPV6_PREFIX). */
  ipv6PrefixLength?: number;
  /** Told of every refusal (metrics). */
  onRefusal?: (bucket: RateLimitBucket) => void;
}

/** Keys may hold emails: store a digest, so Redis holds no address and no caller-shaped key. */
function digest(key: string): string {
  return createHash("sha256").update(key).digest("base64url");
}

/** One key per subject: the client's source, with the email in front for the per-account budget. */
function subjectKey(subject: RateLimitSubject, ipv6PrefixLength: number): string {
  const source = rateLimitSource(subject.ip, ipv6PrefixLength);
  return digest(subject.email === undefined ? source : `${subject.email}|${source}`);
}

/**
 * Rate limits kept in Redis, shared by every auth-server instance. When Redis is unreachable an
 * in-memory limiter with the same budgets takes over for this process, so an outage neither
 * blocks logins nor lifts the limits.
 */
export function createRateLimiter(options: RateLimiterOptions): RateLimiter {
  const limits = { ...DEFAULT_RATE_LIMITS, ...options.limits };
  const ipv6PrefixLength = options.ipv6PrefixLength ?? DEFAULT_IPV6_PREFIX_LENGTH;
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
    async consume(bucket, subject) {
      try {
        await limiterFor(bucket).consume(subjectKey(subject, ipv6PrefixLength));
      } catch (error) {
        if (error instanceof RateLimiterRes) {
          options.onRefusal?.(bucket);
          const retryAfterMs = Math.max(1, Math.ceil(error.msBeforeNext));
          throw new AuthError("RATE_LIMITED", rateLimitedMessage(bucket, limits[bucket], retryAfterMs), { retryAfterMs });
        }
        throw error;
      }
    },
    async reward(bucket, subject) {
      // Best effort: a failed reset only means the budget refills on its own.
      await limiterFor(bucket)
        .delete(subjectKey(subject, ipv6PrefixLength))
        .catch(() => false);
    },
  };
}
