import type { Command } from "commander";
import type { WardenClient } from "@warden/client";
import type { UserRef } from "./args.js";
import { loadEnv, type CliEnv } from "./env.js";
import { createOutput, type Output } from "./output.js";
import { resolveUrl } from "./session.js";

interface GlobalOptions {
  url?: string;
}

export interface RunContext {
  env: CliEnv;
  url: string;
  out: Output;
}

/** For error messages that name the server ("cannot reach Warden at ..."). */
export let currentUrl: string | undefined;

/** What every command that talks to the server starts with: the environment, the server and where output goes. */
export async function context(command: Command, json = false): Promise<RunContext> {
  const globals = command.optsWithGlobals<GlobalOptions>();
  const env = loadEnv();
  const url = await resolveUrl(env, globals.url);
  currentUrl = url;
  return { env, url, out: createOutput({ json }) };
}

/** A user and their sessions, by email or id; NOT_FOUND (exit 3) when there is none. */
export function findUser(client: WardenClient, ref: UserRef) {
  return client.api.admin.users.find.query(ref);
}
