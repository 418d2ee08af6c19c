// The floor auth.me is compared against: a no-op tRPC procedure served by the auth server itself
// (startAuthServer, as apps/auth-server's main runs it: Fastify, cors, cookie, the one tRPC route,
// the context, metrics observer, logger, error formatter, relay and revocation feed), mounted beside
// Warden's own router. The bench calls auth.me and the no-op on this one process, so the two differ
// in the procedure alone. The procedures exist only here, never in the public AppRouter.
//   noop       returns { ok: true }
//   noopSized  returns a constant shaped and sized as auth.me's answer for a bench client (the same
//              bytes on the wire, written once as auth.me's are: withJsonText): what is left between
//              it and auth.me is the auth check and the session lookup alone
import { appRouter, createTRPCRouter, publicProcedure, withJsonText } from "@warden/api";
import { loadEnv } from "@warden/contracts/env";
import { closeOnSignals, serverEnvSchema, startAuthServer } from "@warden/server";

const ME_SHAPED = withJsonText({
  user: {
    id: "6f1c2a4e-3b5d-4e7f-8a9b-0c1d2e3f4a5b",
    email: "client-0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e@bench.test",
    role: "user",
    emailVerified: false,
    locked: false,
    createdAt: 1796609502204,
  },
  session: { id: "7a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d", createdAt: 1796609502204, expiresAt: 1797214302204 },
} as const);

const router = createTRPCRouter({
  ...appRouter._def.record,
  noop: publicProcedure.query(() => ({ ok: true as const })),
  noopSized: publicProcedure.query(() => ME_SHAPED),
});
const server = await startAuthServer(loadEnv(serverEnvSchema, "warden"), { router });
process.stdout.write(`READY ${JSON.stringify({ url: server.url })}\n`);
closeOnSignals(server.close);
