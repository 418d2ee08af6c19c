export { RevocationSet, firstAcceptedIat, NOT_BEFORE_MARGIN_MS, type Clock } from "./revocation-set.js";
export {
  RevocationFeed,
  startRevocationFeed,
  publishRevocations,
  publishNotBefore,
  pruneRevocations,
  type RevocationFeedOptions,
  type RevocationSink,
} from "./feed.js";
