import { durationSetting, emailSchema, parseDuration, passwordSchema } from "@warden/contracts";
import { flagSetting, sharedEnvSchema } from "@warden/contracts/env";
import { metricsTokenSetting } from "@warden/metrics";
import { isIP } from "node:net";
import { z } from "zod";

const duration = durationSetting;

/** `<attempts>/<window>`, e.g. `30/1m`: a rate-limit budget. */
const budget = z
  .string()
  .optional()
  .transform((text, ctx) => {
    if (text === undefined) return undefined;
    const match = /^\s*(\d+)\s*\/\s*(\S+)\s*$/.exec(text);
    try {
      if (!match) throw new Error("bad shape");
      const points = Number(match[1]);
      const durationSec = Math.ceil(parseDuration(match[2]!) / 1000);
      if (points < 1 || durationSec < 1) throw new Error("must be positive");
      return { points, durationSec };
    } catch {
      ctx.addIssue({ code: "custom", message: `"${text}" is not a rate limit (use attempts/window, e.g. 30/1m)` });
      return z.NEVER;
    }
  });

/** One proxy entry of TRUST_PROXY: an IPv4/IPv6 address, optionally with a CIDR prefix length. */
function isProxyAddress(entry: string): boolean {
  const [address = "", bits, extra] = entry.split("/");
  const family = isIP(address);
  if (family === 0 || extra !== undefined) return false;
  return bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128));
}

/**
 * TRUST_PROXY: how many proxies stand in front (a hop count), or which addresses are proxies (a
 * comma list of addresses/CIDRs). `true` is refused: it trusts every X-Forwarded-For entry, and
 * the leftmost one is written by the client.
 */
const proxyTrust = z
  .string()
  .optional()
  .transform((text, ctx): number | string[] => {
    const value = text?.trim() ?? "";
    if (value === "") return 0;
    if (/^\d{1,2}$/.test(value)) return Number(value);
    const entries = value.split(",").map((entry) => entry.trim());
    if (entries.every(isProxyAddress)) return entries;
    ctx.addIssue({
      code: "custom",
      message: `"${text}" is ambiguous or not a proxy address: set the number of proxies in front (0, 1, 2, ...) or their addresses/CIDRs (e.g. 10.0.0.0/8,192.0.2.1)`,
    });
    return z.NEVER;
  });

const prefixLength = { message: "must be a prefix length from 1 to 128" };
const ipv6PrefixLength = z.coerce.number(prefixLength).int(prefixLength).min(1, prefixLength).max(128, prefixLength).default(64);

const urlList = z
  .string()
  .default("")
  .transform((v) =>
    v
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean),
  )
  .pipe(z.array(z.url({ message: "CORS_ORIGINS must be a comma-separated list of origins" })));

/**
 * The auth server's configuration: the settings every process shares (DATABASE_URL, REDIS_URL,
 * QUEUE_PREFIX, the TTLs, LOG_LEVEL, WARDEN_DATA_KEY*; the data key is required at start, see
 * keys.ts) and the server's own. Its host's `env.ts` parses the environment with it.
 */
export const serverEnvSchema = sharedEnvSchema.extend({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().default("127.0.0.1"),
  /** How often the outbox relay looks for events a failed round or a Redis outage left behind. */
  RELAY_POLL_INTERVAL: duration("1s"),
  /** How long start waits for the revocation feed's first snapshot before serving anyway. */
  FEED_READY_TIMEOUT: duration("5s"),
  JWT_ALG: z.enum(["ES256", "HS256"]).default("ES256"),
  JWT_ISSUER: z.string().min(1).default("warden"),
  JWT_AUDIENCE: z.string().min(1).default("warden"),
  /** ES256: a PKCS#8 PEM private key, inline or from a file. */
  JWT_PRIVATE_KEY: z.string().optional(),
  JWT_PRIVATE_KEY_FILE: z.string().optional(),
  /** HS256: a secret of at least 32 bytes, inline or from a file. */
  JWT_SECRET: z.string().optional(),
  JWT_SECRET_FILE: z.string().optional(),
  /** Keys from before a rotation (PEM, public or private, concatenated): their tokens still verify. */
  JWT_PREVIOUS_KEYS_FILE: z.string().optional(),
  /** The bootstrap admin, created at start when the email is free (see start.ts). Same rules as signup. */
  WARDEN_ADMIN_EMAIL: emailSchema.optional(),
  WARDEN_ADMIN_PASSWORD: passwordSchema.optional(),
  CORS_ORIGINS: urlList,
  COOKIE_SECURE: flagSetting(true),
  TRUST_PROXY: proxyTrust,
  BODY_LIMIT: z.coerce
    .number()
    .int()
    .min(1024)
    .max(10 * 1024 * 1024)
    .default(16 * 1024),
  RATE_LIMITS: flagSetting(true),
  /** Budgets overriding DEFAULT_RATE_LIMITS (rate-limit.ts), as attempts/window. */
  RATE_LIMIT_LOGIN: budget,
  RATE_LIMIT_LOGIN_ACCOUNT: budget,
  RATE_LIMIT_SIGNUP: budget,
  RATE_LIMIT_REFRESH: budget,
  RATE_LIMIT_PASSWORD_RESET: budget,
  RATE_LIMIT_PASSWORD_RESET_EMAIL: budget,
  RATE_LIMIT_EMAIL_VERIFICATION: budget,
  /**
   * How long an instance answers `auth.me` for a session it has read from memory (revocations are
   * checked on every call all the same; changes to the user reach it through the feed).
   */
  SESSION_CACHE_TTL: duration("60s"),
  /** Signup opens no session and login refuses an unverified email until its link is followed. */
  REQUIRE_VERIFIED_EMAIL: flagSetting(false),
  /** IPv6 clients are counted per prefix of this length (a host routinely holds a whole /64). */
  RATE_LIMIT_IPV6_PREFIX: ipv6PrefixLength,
  /** When set, `/metrics` needs `Authorization: Bearer <METRICS_TOKEN>`; unset, it is open (firewall it). */
  METRICS_TOKEN: metricsTokenSetting,
  /** The admin console's static build, served at /console (`pnpm start` sets it when the console is built). */
  CONSOLE_DIR: z.string().optional(),
});

export type ServerEnv = z.infer<typeof serverEnvSchema>;
