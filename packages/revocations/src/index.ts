export { RevocationSet } from "./revocation-set.js";
export {
  RevocationFeed,
  startRevocationFeed,
  publishRevocations,
  publishNotBefore,
  pruneRevocations,
  type RevocationFeedOptions,
  type RevocationSink,
} from "./feed.js";
export { connectRedis, type RedisClient } from "./redis.js";
export {
  checkRedisRequirements,
  watchRedisRequirements,
  type RedisRequirementProblem,
  type RedisRequirementsWatch,
  type RequirementsLogger,
} from "./requirements.js";
