import { authRouter } from "./router/auth.js";
import { adminRouter } from "./router/admin.js";
import { healthProcedure } from "./router/health.js";
import { sessionsRouter } from "./router/sessions.js";
import { createCallerFactory, createTRPCRouter } from "./trpc.js";

export const appRouter = createTRPCRouter({
  auth: authRouter,
  sessions: sessionsRouter,
  admin: adminRouter,
  health: healthProcedure,
});

export type AppRouter = typeof appRouter;

/** In-process caller, for tests and tools: `createCaller(createContextInner({ auth, req }))`. */
export const createCaller = createCallerFactory(appRouter);
