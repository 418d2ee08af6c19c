import os from "node:os";
import path from "node:path";
import { sharedEnvSchema } from "@warden/contracts/env";
import { z } from "zod";

/**
 * The CLI's configuration from the environment: DATABASE_URL as every process reads it (for
 * `admin create`), and the CLI's own. The only place `process.env` is read.
 */
const envSchema = sharedEnvSchema.pick({ DATABASE_URL: true }).extend({
  WARDEN_URL: z.url({ message: "WARDEN_URL must be an http(s):// URL" }).optional(),
  WARDEN_CONFIG_DIR: z.string().min(1).optional(),
  WARDEN_PASSWORD: z.string().optional(),
  /** The new password of `password change`, instead of a prompt. */
  WARDEN_NEW_PASSWORD: z.string().optional(),
  WARDEN_EMAIL: z.string().optional(),
  XDG_CONFIG_HOME: z.string().optional(),
  /** Where `pnpm start` keeps its files (see dev-server.ts); default: the nearest enclosing `.warden/`. */
  WARDEN_HOME: z.string().min(1).optional(),
});

export type CliEnv = z.infer<typeof envSchema> & { configDir: string };

export function loadEnv(source: NodeJS.ProcessEnv = process.env): CliEnv {
  const parsed = envSchema.safeParse(source);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new UsageError(issue?.message ?? "bad environment");
  }
  const env = parsed.data;
  const configDir = env.WARDEN_CONFIG_DIR ?? path.join(env.XDG_CONFIG_HOME ?? path.join(os.homedir(), ".config"), "warden");
  return { ...env, configDir: path.resolve(configDir) };
}

/** Bad input from the user (arguments, environment): exit code 1. */
export class UsageError extends Error {}
