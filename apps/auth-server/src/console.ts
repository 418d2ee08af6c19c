import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import fastifyStatic from "@fastify/static";
import type { FastifyInstance } from "fastify";

/** Where `pnpm --filter @warden/console build` puts the console in this repo. */
export const DEFAULT_CONSOLE_DIR = fileURLToPath(new URL("../../console/dist", import.meta.url));

/** The console directory to serve, or undefined when there is no build (CONSOLE_DIR, else the repo's). */
export function consoleDirFor(configured: string | undefined): string | undefined {
  const dir = path.resolve(configured ?? DEFAULT_CONSOLE_DIR);
  return existsSync(path.join(dir, "index.html")) ? dir : undefined;
}

/**
 * Serves the admin console's static build at /console, same origin as /trpc: the console's
 * cookie mode needs the SameSite=Strict refresh cookie, which a second origin would not get.
 */
export async function registerConsole(app: FastifyInstance, dir: string): Promise<void> {
  await app.register(fastifyStatic, { root: dir, prefix: "/console/", index: ["index.html"], wildcard: true });
  app.get("/console", (_req, reply) => reply.redirect("/console/", 302));
}
