// Warden's HTTP stack (buildServer: Fastify, cors, cookie, the tRPC adapter, the same error
// formatter) serving a no-op tRPC procedure: the floor that auth.me is compared against.
// The procedure exists only here, never in the public AppRouter.
import { initTRPC } from "@trpc/server";
import type { CreateFastifyContextOptions } from "@trpc/server/adapters/fastify";
import { createContextInner, formatError, type Context } from "@warden/api";
import { createAuth, createKeyRing, es256KeyFromPem } from "@warden/auth";
import { loadEnv } from "@warden/contracts/env";
import { buildServer, createLogger, serverEnvSchema, trpcRoute } from "@warden/server";
import { createDb } from "@warden/db";

const env = loadEnv(serverEnvSchema, "warden");
const database = createDb(env.DATABASE_URL!, { max: 1 });
const auth = createAuth({
  db: database.db,
  keys: createKeyRing(es256KeyFromPem(env.JWT_PRIVATE_KEY!)),
  settings: { issuer: env.JWT_ISSUER, audience: env.JWT_AUDIENCE },
});
const t = initTRPC.context<Context>().create({ errorFormatter: ({ error, path }) => formatError(error, path) });
const benchRouter = t.router({ noop: t.procedure.query(() => ({ ok: true as const })) });

const app = await buildServer({
  auth,
  logger: createLogger("silent"),
  health: { db: async () => true, redis: async () => true },
  extend: async (scope) => {
    const createContext = ({ req }: Pick<CreateFastifyContextOptions, "req">) =>
      createContextInner({
        auth,
        req: { ip: req.ip, userAgent: req.headers["user-agent"], authorization: req.headers.authorization },
      });
    // The same serving path as the auth server's /trpc.
    await scope.register(trpcRoute, { prefix: "/bench", trpcOptions: { router: benchRouter, createContext } });
  },
});
const url = await app.listen({ port: 0, host: "127.0.0.1" });
process.stdout.write(`READY ${JSON.stringify({ url })}\n`);
const stop = () =>
  app.close().then(async () => {
    auth.revocations.close();
    await database.close();
    process.exit(0);
  });
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
