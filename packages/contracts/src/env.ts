import { z } from "zod";
import { dataKeyListSetting, dataKeySetting } from "./data-key.js";
import { durationSetting } from "./durations.js";
import { redisClusterNodesSetting } from "./redis-target.js";

/** An environment setting that is on or off: true/false, 1/0, yes/no. */
export function flagSetting(fallback: boolean) {
  return z
    .enum(["true", "false", "1", "0", "yes", "no"])
    .optional()
    .transform((v) => (v === undefined ? fallback : ["true", "1", "yes"].includes(v)));
}

/**
 * Settings every Warden process reads with one meaning. Each process's schema extends this one,
 * so the auth servers and the workers cannot disagree on a default (the TTLs, the queue prefix
 * and the data key must match across all of them).
 */
export const sharedEnvSchema = z.object({
  DATABASE_URL: z.url({ message: "DATABASE_URL must be a postgres:// URL" }).optional(),
  REDIS_URL: z.url({ message: "REDIS_URL must be a redis:// URL" }).default("redis://127.0.0.1:6379"),
  /** A Redis Cluster's seed nodes (host:port,host:port); when set, it is used instead of REDIS_URL. */
  REDIS_CLUSTER_NODES: redisClusterNodesSetting,
  QUEUE_PREFIX: z
    .string()
    .regex(/^\{[\w.-]+\}$/, { message: "QUEUE_PREFIX must be a Redis hash tag such as {warden}" })
    .default("{warden}"),
  ACCESS_TOKEN_TTL: durationSetting("15m"),
  REFRESH_TOKEN_TTL: durationSetting("7d"),
  SESSION_MAX_AGE: durationSetting("30d"),
  REFRESH_REUSE_GRACE: durationSetting("10s"),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  /**
   * `json`: one JSON object per line, for log collectors (production). `pretty`: one readable line
   * per event and per request, for a person at a terminal (`pnpm start` picks it when its output
   * is one).
   */
  LOG_FORMAT: z.enum(["json", "pretty"], { message: "LOG_FORMAT must be json or pretty" }).default("json"),
  /**
   * The secret behind server secrets that are not JWT keys (refresh-token successors): base64 of
   * at least 32 bytes, inline or from a file. Every instance must share it.
   */
  WARDEN_DATA_KEY: dataKeySetting,
  WARDEN_DATA_KEY_FILE: z.string().optional(),
  /** Data keys from before a rotation, comma-separated: what they derived is still recognised. */
  WARDEN_DATA_KEY_PREVIOUS: dataKeyListSetting,
  /**
   * Webhooks may point to loopback (http or https), for development and tests; no other private
   * address ever. The auth servers check it when a webhook is created, the workers on every delivery.
   */
  WEBHOOKS_ALLOW_LOCAL: flagSetting(false),
});

export type SharedEnv = z.infer<typeof sharedEnvSchema>;

/** The first problem of a failed parse, as `NAME: message`. */
export function configurationProblem(error: z.ZodError): string {
  const first = error.issues[0];
  const name = first?.path.join(".") || "environment";
  return `${name}: ${first?.message ?? "invalid"}`;
}

/**
 * Parses a process's configuration once, at start. A bad value is one line on stderr
 * (`<program>: invalid configuration: NAME: message`, no stack trace) and exit code 1.
 */
export function loadEnv<Schema extends z.ZodType>(
  schema: Schema,
  program: string,
  source: NodeJS.ProcessEnv = process.env,
): z.output<Schema> {
  const result = schema.safeParse(source);
  if (result.success) return result.data;
  process.stderr.write(`${program}: invalid configuration: ${configurationProblem(result.error)}\n`);
  process.exit(1);
}
