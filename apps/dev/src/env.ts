import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { DEV_SERVER_FILE } from "@warden/contracts";
import { configurationProblem, loadEnv } from "@warden/contracts/env";
import { DEFAULT_RATE_LIMITS, formatBudget, RATE_LIMIT_SETTINGS, serverEnvSchema, type ServerEnv } from "@warden/server";
import { workerEnvSchema } from "@warden/worker";
import { z } from "zod";

/** What `pnpm start` reads: the auth server's settings (checked before anything starts) and its own. */
const devEnvSchema = serverEnvSchema.extend({
  /** Where the embedded PostgreSQL, the dev signing key and the dev data key are kept. */
  WARDEN_HOME: z.string().default(".warden"),
});

type DevSettings = z.infer<typeof devEnvSchema>;

export interface DevEnv {
  settings: DevSettings;
  /** The environment as given: the base of what the auth server and the worker are started with. */
  variables: Readonly<NodeJS.ProcessEnv>;
  /** WARDEN_HOME, absolute. */
  home: string;
}

/** Files start keeps under WARDEN_HOME (kept across restarts). */
export function devFiles(home: string) {
  return {
    /** The development signing key, when none is configured. */
    signingKey: path.join(home, "dev-signing-key.pem"),
    /** The development data key, when none is configured. */
    dataKey: path.join(home, "data-key"),
    /** The embedded PostgreSQL's data, when there is no DATABASE_URL. */
    database: path.join(home, "pg"),
    /** Where the running server and its database are, for the warden CLI (removed at stop). */
    devServer: path.join(home, DEV_SERVER_FILE),
  };
}

/** Stands in for the embedded database's URL (known once it runs) while the configuration is checked. */
const EMBEDDED_DATABASE_STAND_IN = "postgres://warden:warden@127.0.0.1:5432/warden";

/**
 * Parses the environment once. A bad value is one clear line and exit code 1, before anything is
 * started or written: the settings of start itself and of the auth server and the admin worker,
 * as they will be started (see `appliedEnv`). The only place `process.env` is read.
 */
export function loadDevEnv(source: NodeJS.ProcessEnv = process.env): DevEnv {
  const settings = loadEnv(devEnvSchema, "warden", source);
  const dev = { settings, variables: { ...source }, home: path.resolve(settings.WARDEN_HOME) };
  const applied = appliedEnv(dev, settings.DATABASE_URL ?? EMBEDDED_DATABASE_STAND_IN);
  loadEnv(serverEnvSchema, "warden", applied);
  loadEnv(workerEnvSchema, "warden", applied);
  return dev;
}

/**
 * Where the admin console's build is (`pnpm --filter @warden/console build`), found through its
 * package. Given to the server even before it is built: /console/ then says how to build it.
 */
function consoleBuild(): string {
  return path.dirname(fileURLToPath(import.meta.resolve("@warden/console/dist/index.html")));
}

/** Whether CONSOLE_DIR holds a build the server serves. */
export function consoleBuilt(dir: string | undefined): boolean {
  return dir !== undefined && existsSync(path.join(dir, "index.html"));
}

/**
 * Development rate limits: production's budgets times this. Still on, so a 429 can be seen and
 * tried, but signing up test accounts from localhost no longer locks a developer out for an hour
 * (the counters live in Redis, so that lasted across restarts).
 */
export const DEV_RATE_LIMIT_FACTOR = 100;

/** RATE_LIMIT_* at the development budgets, for each one the environment does not set. */
function devRateLimits(variables: Readonly<NodeJS.ProcessEnv>): NodeJS.ProcessEnv {
  const limits: NodeJS.ProcessEnv = {};
  for (const [bucket, setting] of Object.entries(RATE_LIMIT_SETTINGS) as [keyof typeof RATE_LIMIT_SETTINGS, string][]) {
    const policy = DEFAULT_RATE_LIMITS[bucket];
    if (variables[setting] === undefined)
      limits[setting] = formatBudget({ ...policy, points: policy.points * DEV_RATE_LIMIT_FACTOR });
  }
  return limits;
}

/**
 * What the auth server and the worker are started with: the given environment plus what start
 * provides (the database, Redis, the dev keys under WARDEN_HOME when none is configured,
 * development rate limits, the console's build). This process's own environment is never written.
 */
export function appliedEnv({ settings, variables, home }: DevEnv, databaseUrl: string): NodeJS.ProcessEnv {
  const files = devFiles(home);
  const hasSigningKey =
    settings.JWT_PRIVATE_KEY || settings.JWT_PRIVATE_KEY_FILE || settings.JWT_SECRET || settings.JWT_SECRET_FILE;
  const hasDataKey = settings.WARDEN_DATA_KEY || settings.WARDEN_DATA_KEY_FILE;
  const consoleDir = settings.CONSOLE_DIR ?? consoleBuild();
  return {
    ...variables,
    DATABASE_URL: databaseUrl,
    REDIS_URL: settings.REDIS_URL,
    // Plain-HTTP localhost: a Secure cookie would never come back.
    COOKIE_SECURE: variables.COOKIE_SECURE ?? "false",
    // Webhooks to a receiver on this machine (http://127.0.0.1:…) while developing.
    WEBHOOKS_ALLOW_LOCAL: variables.WEBHOOKS_ALLOW_LOCAL ?? "true",
    ...devRateLimits(variables),
    // A person at a terminal reads lines; anything else (a pipe, a file, a collector) gets JSON.
    LOG_FORMAT: variables.LOG_FORMAT ?? (process.stdout.isTTY ? "pretty" : "json"),
    ...(hasSigningKey ? {} : { JWT_PRIVATE_KEY_FILE: files.signingKey }),
    ...(hasDataKey ? {} : { WARDEN_DATA_KEY_FILE: files.dataKey }),
    CONSOLE_DIR: consoleDir,
  };
}

/** The auth server's settings for the environment start hands it (checked by loadDevEnv already). */
export function serverSettings(variables: NodeJS.ProcessEnv): ServerEnv {
  const result = serverEnvSchema.safeParse(variables);
  if (!result.success) throw new Error(`invalid configuration: ${configurationProblem(result.error)}`);
  return result.data;
}
