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
export { createVerifier, Verifier, type Principal, type VerifierOptions } from "./verifier.js";
export { VerifierError, isVerifierError, type VerifierReason } from "./errors.js";
export { VERIFIER_ALGORITHMS, keysFromJwks, type KeyInput, type VerifierAlgorithm } from "./keys.js";
export { bearerToken, errorResponse, expressAuth, fastifyAuth, verifyRequest } from "./request.js";
