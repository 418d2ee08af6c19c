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
