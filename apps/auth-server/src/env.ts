import { loadEnv as parseOnce } from "@warden/contracts/env";
import { serverEnvSchema, type ServerEnv } from "@warden/server";

/**
 * The auth server's configuration, parsed once at start: the shared settings and the server's own
 * (`serverEnvSchema`). The only place this process reads `process.env`.
 */
export function loadEnv(source: NodeJS.ProcessEnv = process.env): ServerEnv {
  return parseOnce(serverEnvSchema, "warden", source);
}
