// The floor auth.me is compared against: a no-op tRPC procedure served exactly as the auth server
// serves its router (buildServer: Fastify, cors, cookie, the one tRPC route, the same context,
// metrics observer, logger and error formatter; Warden's publicProcedure, so the same middleware).
// Only the router differs; the procedure exists only here, never in the public AppRouter.
import { createTRPCRouter, publicProcedure } from "@warden/api";
import { createAuth, createKeyRing, es256KeyFromPem } from "@warden/auth";
import { loadEnv } from "@warden/contracts/env";
import { buildServer, createLogger, createServerMetrics, serverEnvSchema } from "@warden/server";
import { createDb } from "@warden/db";

const env = loadEnv(serverEnvSchema, "warden");
const database = createDb(env.DATABASE_URL!, { max: 1 });
const auth = createAuth({
  db: database.db,
  keys: createKeyRing(es256KeyFromPem(env.JWT_PRIVATE_KEY!)),
  settings: { issuer: env.JWT_ISSUER, audience: env.JWT_AUDIENCE },
});
const app = await buildServer({
  auth,
  logger: createLogger(env.LOG_LEVEL),
  metrics: createServerMetrics(),
  health: { db: async () => true, redis: async () => true },
  router: createTRPCRouter({ noop: publicProcedure.query(() => ({ ok: true as const })) }),
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
