// The floor auth.me is compared against: a no-op tRPC procedure served by the auth server itself
// (startAuthServer, as apps/auth-server's main runs it: Fastify, cors, cookie, the one tRPC route,
// the context, metrics observer, logger, error formatter, relay and revocation feed), mounted beside
// Warden's own router. The bench calls auth.me and the no-op on this one process, so the two differ
// in the procedure alone. The procedure exists only here, never in the public AppRouter.
import { appRouter, createTRPCRouter, publicProcedure } from "@warden/api";
import { loadEnv } from "@warden/contracts/env";
import { closeOnSignals, serverEnvSchema, startAuthServer } from "@warden/server";

const router = createTRPCRouter({ ...appRouter._def.record, noop: publicProcedure.query(() => ({ ok: true as const })) });
const server = await startAuthServer(loadEnv(serverEnvSchema, "warden"), { router });
process.stdout.write(`READY ${JSON.stringify({ url: server.url })}\n`);
closeOnSignals(server.close);
