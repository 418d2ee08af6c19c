// Test harnesses every package and app may use as a dev dependency. Never imported by shipped code.
export { LogCapture, startTestServer, type TestServer } from "./server.js";
export { comparable, rawRequest, type RawAnswer, type RawRequest } from "./raw-http.js";
export { startCountingServer, type CountingServer } from "./counting-server.js";
export { scrapeMetrics, type MetricsScrape } from "./metrics.js";
export { REDIS_URL, startWardenSystem, type WardenSystem } from "./system.js";
export { deleteKeys, email, ownRedis, PASSWORD, sessionOf, testPrefix, type OwnRedis } from "./helpers.js";
export {
  alive,
  asPostgresUser,
  baseEnv,
  connectionRefused,
  postgresOn,
  ROOT,
  spawnNode,
  TSX_CLI,
  waitFor,
  waitForHealthy,
  type Child,
} from "./processes.js";
export {
  redisClusterToolsAvailable,
  startRedisCluster,
  type RedisClusterOptions,
  type RedisClusterProcess,
  type TestRedisCluster,
} from "./redis-cluster.js";
export { startMailbox, tokenOfLink, type Mailbox, type ReceivedMail } from "./mailbox.js";
export {
  generateTestCertificate,
  startWebhookReceiver,
  type ReceivedWebhook,
  type WebhookReceiver,
  type WebhookReceiverOptions,
} from "./webhook-receiver.js";
