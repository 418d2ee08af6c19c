// Prometheus plumbing the auth server and the admin worker share; each defines its own metrics.
export { createMetricsRegistry, METRICS_PREFIX } from "./registry.js";
export { scrapeReading, SCRAPE_READING_TIMEOUT_MS } from "./reading.js";
export { metricsAnswer, metricsRequestAllowed, metricsTokenSetting, type MetricsAnswer } from "./access.js";
export { serveMetrics, type MetricsServer, type MetricsServerOptions } from "./serve.js";
