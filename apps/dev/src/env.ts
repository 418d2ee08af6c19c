import { loadEnv } from "@warden/contracts/env";
import { serverEnvSchema, type ServerEnv } from "@warden/server";
import { z } from "zod";

/** What `pnpm start` reads: the auth server's settings (checked before anything starts) and its own. */
const devEnvSchema = serverEnvSchema.extend({
  /** Where the embedded PostgreSQL, the dev signing key and the dev data key are kept. */
  WARDEN_HOME: z.string().default(".warden"),
});

export type DevSettings = z.infer<typeof devEnvSchema>;

export interface DevEnv {
  settings: DevSettings;
  /** The environment as given: the base of what the auth server and the worker are started with. */
  variables: Readonly<NodeJS.ProcessEnv>;
}

/** Parses the environment once; a bad value is one clear line and exit code 1. The only place `process.env` is read. */
export function loadDevEnv(source: NodeJS.ProcessEnv = process.env): DevEnv {
  return { settings: loadEnv(devEnvSchema, "warden", source), variables: { ...source } };
}

/** The auth server's settings for the environment start hands it (the given one plus what start added). */
export function serverSettings(variables: NodeJS.ProcessEnv): ServerEnv {
  return loadEnv(serverEnvSchema, "warden", variables);
}
