export { buildServer, refreshCookieName, wardenTrpcOptions, type ServerOptions, type WardenTrpcOptions } from "./server.js";
export { COOKIE_HEADER } from "@warden/contracts";
export { startAuthServer, closeOnSignals, type RunningServer, type StartOptions } from "./start.js";
export { serverEnvSchema, type ServerEnv } from "./config.js";
export { loadKeyRing, loadServerDataKeys } from "./keys.js";
export { createLogger, type LogFormat } from "./logger.js";
export {
  createRateLimiter,
  rateLimitsFromEnv,
  rateLimitSource,
  DEFAULT_RATE_LIMITS,
  RATE_LIMIT_SETTINGS,
  formatBudget,
  type RateLimitPolicy,
  type RateLimitBucket,
} from "./rate-limit.js";
export { trpcRoute, type TrpcRouteOptions } from "./trpc-route.js";
export { createServerMetrics, type ServerMetrics, type ServerStateSources } from "./metrics.js";
