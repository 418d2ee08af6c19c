export { appRouter, createCaller, type AppRouter } from "./root.js";
export {
  createContextInner,
  type Context,
  type HealthProbe,
  type ProcedureObserver,
  type RateLimiter,
  type RateLimitSubject,
  type RequestInfo,
} from "./context.js";
export { formatError, isUnavailable, type WardenErrorShape } from "./errors.js";
export { jsonTextOf, withJsonText } from "./json-text.js";
// For routers other than Warden's served the same way (the bench's no-op procedure).
export { createTRPCRouter, publicProcedure } from "./trpc.js";
