import { existsSync } from "node:fs";
import path from "node:path";
import fastifyStatic from "@fastify/static";
import type { FastifyInstance } from "fastify";

/** The console directory to serve (CONSOLE_DIR), or undefined when none is configured or it holds no build. */
export function consoleDirFor(configured: string | undefined): string | undefined {
  if (!configured) return undefined;
  const dir = path.resolve(configured);
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
