export { buildServer, refreshCookieName, COOKIE_HEADER, type ServerOptions } from "./server.js";
export { startAuthServer, closeOnSignals, type RunningServer } from "./main.js";
export { envSchema, loadEnv, type Env } from "./env.js";
export { createLogger } from "./logger.js";
export { createRateLimiter, rateLimitsFromEnv, DEFAULT_RATE_LIMITS, type RateLimitPolicy, type RateLimitBucket } from "./rate-limit.js";
export { fastQueryHook, type FastQueryOptions } from "./fast-queries.js";
