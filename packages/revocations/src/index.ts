export { RevocationSet } from "./revocation-set.js";
export {
  RevocationFeed,
  startRevocationFeed,
  publishRevocations,
  publishNotBefore,
  publishUserChanged,
  pruneRevocations,
  feedHighWaterMark,
  feedStats,
  advanceFeedHighWaterMark,
  writeFeedSnapshot,
  type FeedSnapshot,
  type FeedStats,
  type RevocationFeedOptions,
  type RevocationSink,
} from "./feed.js";
export { connectRedis, redisAnswers, type RedisClient } from "./redis.js";
export {
  checkRedisRequirements,
  watchRedisRequirements,
  type RedisRequirementProblem,
  type RedisRequirementsWatch,
  type RequirementsLogger,
} from "./requirements.js";
