import { existsSync } from "node:fs";
import path from "node:path";
import type { FastifyInstance, FastifyReply } from "fastify";
import { errorBody } from "./server.js";

/** The console directory to serve (CONSOLE_DIR), or undefined when none is configured or it holds no build. */
function consoleDirFor(configured: string | undefined): string | undefined {
  if (!configured) return undefined;
  const dir = path.resolve(configured);
  return existsSync(path.join(dir, "index.html")) ? dir : undefined;
}

/** What /console answers while CONSOLE_DIR holds no build: how to make one. */
function notBuiltPage(dir: string): string {
  const escape = (text: string) => text.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Warden console not built</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; line-height: 1.5">
<h1>The Warden admin console is not built</h1>
<p>No build in <code>${escape(dir)}</code>. From the repository root, build it:</p>
<pre>pnpm --filter @warden/console build</pre>
<p>then restart the server (<code>pnpm start</code>) and reload this page.</p>
</body>
</html>
`;
}

/**
 * Serves the admin console's static build (CONSOLE_DIR) at /console, same origin as /trpc: the
 * console's cookie mode needs the SameSite=Strict refresh cookie, which a second origin would not
 * get. While the directory holds no build, /console answers a page saying how to make one (a JSON
 * 404 there left people guessing).
 */
export async function registerConsole(app: FastifyInstance, configured: string): Promise<void> {
  app.get("/console", (_req, reply) => reply.redirect("/console/", 302));
  const dir = consoleDirFor(configured);
  if (!dir) {
    const page = notBuiltPage(path.resolve(configured));
    const answer = (_req: unknown, reply: FastifyReply) => reply.status(404).type("text/html; charset=utf-8").send(page);
    app.get("/console/", answer);
    app.get("/console/*", answer);
    return;
  }
  // Loaded only when there is a console to serve: a server without one does not carry it in memory.
  const { default: fastifyStatic } = await import("@fastify/static");
  // A scope of its own, so that what is not a file gets the console's not-found answer, not the API's.
  await app.register(
    async (scope) => {
      await scope.register(fastifyStatic, { root: dir, prefix: "/", index: ["index.html"], wildcard: true });
      scope.setNotFoundHandler((req, reply) => {
        // A page of the single-page app (/console/reset-password, the emailed links): its index.html,
        // which routes in the browser. A missing file (a name with an extension) stays a 404.
        if ((req.method === "GET" || req.method === "HEAD") && isPagePath(req.url)) return reply.sendFile("index.html");
        return reply.status(404).send(errorBody(404, "NOT_FOUND", "no such file"));
      });
    },
    { prefix: "/console" },
  );
}

/** A path the console routes itself: under /console/, its last segment without a file extension. */
function isPagePath(url: string): boolean {
  const pathname = url.split(/[?#]/, 1)[0] ?? "";
  const last = pathname.slice(pathname.lastIndexOf("/") + 1);
  return pathname.startsWith("/console/") && !last.includes(".");
}
