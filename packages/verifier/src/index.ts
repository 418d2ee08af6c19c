export { RevocationSet, type Clock } from "./revocation-set.js";
export {
  RevocationFeed,
  startRevocationFeed,
  publishRevocations,
  pruneRevocations,
  type RevocationFeedOptions,
  type RevocationSink,
} from "./feed.js";
