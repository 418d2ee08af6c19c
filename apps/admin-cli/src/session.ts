import { mkdir, readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { createWardenClient, fileStore, type WardenClient } from "@warden/client";
import { findDevServer } from "./dev-server.js";
import type { CliEnv } from "./env.js";
import { UsageError } from "./env.js";
import { CliError, EXIT } from "./exit-codes.js";

const DEFAULT_URL = "http://127.0.0.1:3000";

interface SavedConfig {
  url?: string;
}

const configFile = (env: CliEnv) => path.join(env.configDir, "config.json");
const sessionFile = (env: CliEnv) => path.join(env.configDir, "session.json");

async function readConfig(env: CliEnv): Promise<SavedConfig> {
  try {
    return JSON.parse(await readFile(configFile(env), "utf8")) as SavedConfig;
  } catch {
    return {};
  }
}

export async function saveUrl(env: CliEnv, url: string): Promise<void> {
  await mkdir(env.configDir, { recursive: true, mode: 0o700 });
  await writeFile(configFile(env), JSON.stringify({ url } satisfies SavedConfig), { mode: 0o600 });
}

function checkUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error();
    return url.replace(/\/+$/, "");
  } catch {
    throw new UsageError(`--url must be an http(s):// URL, got "${url}"`);
  }
}

/**
 * --url, else WARDEN_URL, else the server of the last `warden login`, else the development server
 * `pnpm start` runs here (its `.warden/dev-server.json`), else localhost:3000.
 */
export async function resolveUrl(env: CliEnv, flag: string | undefined): Promise<string> {
  const given = flag ?? env.WARDEN_URL ?? (await readConfig(env)).url;
  if (given) return checkUrl(given);
  const dev = findDevServer(env);
  return checkUrl(dev.state === "running" ? dev.record.url : DEFAULT_URL);
}

export function clientFor(env: CliEnv, url: string): WardenClient {
  return createWardenClient({ url, store: fileStore(sessionFile(env)) });
}

/** A client with a stored session; exit 2 when there is none. */
export async function signedInClient(env: CliEnv, url: string): Promise<WardenClient> {
  const client = clientFor(env, url);
  if (!(await client.isSignedIn())) throw new CliError("not signed in; run `warden login`", EXIT.NOT_SIGNED_IN);
  return client;
}

export const deviceName = () => `warden-cli on ${os.hostname()}`.slice(0, 100);
